"""The thumbnailer: a worker that turns queued jobs into thumbnails."""
