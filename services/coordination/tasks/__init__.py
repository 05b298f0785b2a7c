"""Task graphs: tasks with dependencies, leased claims and a state machine (/v1/tasks)."""
