"""Avro codecs: the wire format, row and column-wise encoders and decoders, file-value coercion."""
