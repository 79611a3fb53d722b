"""The desktop window: Qt widgets only; all engine work goes through ``ui.worker``."""
