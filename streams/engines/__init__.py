"""The engines that run the runtime: native (confluent-kafka), faust, replay, and their live helpers."""
