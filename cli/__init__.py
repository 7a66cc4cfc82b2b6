"""`thumbnails`: run the whole service in one command, or talk to a running one."""
