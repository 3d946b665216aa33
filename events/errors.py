"""One exception root for the log package; Kafka driver errors are translated at the edge."""


class LogError(Exception):
    """Something about the log (topics, producing, consuming) went wrong."""


class TopicBootstrapError(LogError):
    """Topics could not be created or described."""
