module opsbook/task-memory-exporter

go 1.22
