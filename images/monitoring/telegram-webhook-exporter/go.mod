module opsbook/telegram-webhook-exporter

go 1.22
