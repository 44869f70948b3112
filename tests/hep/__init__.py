"""HEP3 export: the codec, the exporter, and the nodes sending to a collector."""
