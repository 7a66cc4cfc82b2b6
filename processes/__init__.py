"""Starting, supervising, waiting for and stopping the service's processes."""
