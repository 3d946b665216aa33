"""The contract: versioned event schemas, typed models, and the topic catalogue."""
