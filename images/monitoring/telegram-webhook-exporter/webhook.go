package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// WebhookInfo is the part of getWebhookInfo's result read here.
type WebhookInfo struct {
	URL                string `json:"url"`
	PendingUpdateCount int64  `json:"pending_update_count"`
	LastErrorDate      int64  `json:"last_error_date"`
	LastErrorMessage   string `json:"last_error_message"`
}

// FetchWebhookInfo asks the Bot API. Errors never hold the token: the request URL (which does)
// is replaced by the API's base in every message.
func FetchWebhookInfo(ctx context.Context, client *http.Client, apiBase, token string) (WebhookInfo, error) {
	token = strings.TrimSpace(token)
	base := strings.TrimRight(apiBase, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/bot"+token+"/getWebhookInfo", nil)
	if err != nil {
		return WebhookInfo{}, fmt.Errorf("the API base %s is not a URL", base)
	}
	res, err := client.Do(req)
	if err != nil {
		return WebhookInfo{}, fmt.Errorf("%s did not answer: %s", base, redact(err.Error(), token))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return WebhookInfo{}, fmt.Errorf("%s: reading the answer: %s", base, redact(err.Error(), token))
	}
	var answer struct {
		OK          bool        `json:"ok"`
		Result      WebhookInfo `json:"result"`
		ErrorCode   int         `json:"error_code"`
		Description string      `json:"description"`
	}
	if json.Unmarshal(body, &answer) != nil {
		return WebhookInfo{}, fmt.Errorf("%s answered HTTP %d with something that is not the Bot API's JSON", base, res.StatusCode)
	}
	if !answer.OK {
		return WebhookInfo{}, fmt.Errorf("%s refused: %d %s", base, answer.ErrorCode, redact(answer.Description, token))
	}
	return answer.Result, nil
}

func redact(text, token string) string {
	if token == "" {
		return text
	}
	return strings.ReplaceAll(text, token, "<bot token>")
}

// Render writes the metrics; with ok false only the up gauge (0) is written. expectURL is the
// webhook the stack registers: another URL (someone re-pointed the bot) loses its updates as
// surely as none.
func Render(info WebhookInfo, ok bool, expectURL string) string {
	var b strings.Builder
	gauge := func(name, help string, value int64) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s gauge\n%s %d\n", name, help, name, name, value)
	}
	up := int64(0)
	if ok {
		up = 1
	}
	gauge("opsbook_telegram_webhook_info_up", "1 when getWebhookInfo answered ok.", up)
	if !ok {
		return b.String()
	}
	urlSet := int64(0)
	if info.URL != "" {
		urlSet = 1
	}
	gauge("opsbook_telegram_webhook_url_set", "1 when a webhook URL is registered.", urlSet)
	expected := int64(0)
	if info.URL == expectURL {
		expected = 1
	}
	gauge("opsbook_telegram_webhook_url_expected", "1 when the registered webhook URL is the stack's.", expected)
	gauge("opsbook_telegram_webhook_pending_update_count", "Updates Telegram holds for the bot.", info.PendingUpdateCount)
	gauge("opsbook_telegram_webhook_last_error_timestamp_seconds", "When Telegram last failed to deliver an update (0: never).", info.LastErrorDate)
	if info.LastErrorDate > 0 {
		fmt.Fprintf(&b, "# HELP opsbook_telegram_webhook_last_error_info Telegram's words for the last delivery error.\n# TYPE opsbook_telegram_webhook_last_error_info gauge\n")
		fmt.Fprintf(&b, "opsbook_telegram_webhook_last_error_info{message=%s} 1\n", quote(info.LastErrorMessage))
	}
	return b.String()
}

func quote(v string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(v) + `"`
}
