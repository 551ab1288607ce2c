// opsbook-telegram-webhook-exporter: the state of a bot's webhook as Telegram reports it
// (getWebhookInfo), for Prometheus.
//
// Why it exists: seed 000 asks to watch the webhook's last error, and Telegram only tells it to
// whoever holds the bot token. A scrape config or a blackbox probe would put the token in a URL
// that Prometheus shows on its targets page; this reads it from a swarm secret file and never
// prints it, in a log line, an error or a label.
//
//	opsbook-telegram-webhook-exporter --token-file /run/secrets/TELEGRAM_BOT_TOKEN
//	                                  --expect-url https://bot.example.net/webhook/telegram
//	                                  [--api-base https://api.telegram.org] [--listen :9102]
//
// Serves /healthz (the process answers; Telegram is not asked, so health checks cost no API call)
// and /metrics; each scrape asks Telegram once (5 s timeout):
//
//	opsbook_telegram_webhook_info_up                       1 when getWebhookInfo answered ok
//	opsbook_telegram_webhook_url_set                       1 when a webhook URL is registered
//	opsbook_telegram_webhook_url_expected                  1 when it is the stack's (--expect-url)
//	opsbook_telegram_webhook_pending_update_count          updates Telegram holds for the bot
//	opsbook_telegram_webhook_last_error_timestamp_seconds  when delivery last failed (0: never)
//	opsbook_telegram_webhook_last_error_info{message}      1, with Telegram's words for it
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", ":9102", "address to serve /metrics on")
	tokenFile := flag.String("token-file", "", "file holding the bot token (a swarm secret; required)")
	apiBase := flag.String("api-base", "https://api.telegram.org", "the Bot API's base URL")
	expectURL := flag.String("expect-url", "", "the webhook URL the stack registers (required)")
	flag.Parse()
	if *tokenFile == "" || *expectURL == "" {
		fmt.Fprintln(os.Stderr, "opsbook-telegram-webhook-exporter: --token-file (the bot token's secret file) and --expect-url (the stack's webhook URL) are required")
		os.Exit(2)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	http.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		token, err := os.ReadFile(*tokenFile)
		var info WebhookInfo
		if err == nil {
			info, err = FetchWebhookInfo(r.Context(), client, *apiBase, string(token))
		} else {
			err = fmt.Errorf("reading the token file %s: %w", *tokenFile, err)
		}
		if err != nil {
			// Said once per failing scrape, without the token: the up gauge carries the verdict.
			log.Printf("getWebhookInfo: %v", err)
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(Render(info, err == nil, *expectURL)))
	})
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	log.Printf("serving /metrics on %s for the bot whose token is in %s (API %s, expecting %s)", *listen, *tokenFile, *apiBase, *expectURL)
	log.Fatal(http.ListenAndServe(*listen, nil))
}
