"""The desktop window: Qt widgets, controllers and one task thread; the engine is reached only by the
worker's tasks (``ui.worker_tasks``), so the window shows before torch loads."""
