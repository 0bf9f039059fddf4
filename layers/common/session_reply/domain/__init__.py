"""Our vocabulary and pure rules: statuses, the window, topics, managers, the reply."""
