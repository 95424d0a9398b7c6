"""Pantau's shared contracts: the CloudEvents envelope, the event classes, the one serializer that
touches Kafka bytes, topic names and settings. Behaviour lives in the services, never here."""
