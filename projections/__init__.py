"""Pure folds from events to read models, and the thin Kafka→PostgreSQL runners around them."""
