"""What live and replay share: the driver, the event-time merge of partitions, the pipelines."""
