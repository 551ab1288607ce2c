package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const token = "7000000001:AAF4x9Qd2LkVb8Zp1Rt6Yw3Hn5Jm7Kc0Ue"

func fakeAPI(t *testing.T, answer string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/bot"+token+"/getWebhookInfo" {
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"ok":false,"error_code":404,"description":"Not Found"}`))
			return
		}
		_, _ = w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestReportsTheLastError(t *testing.T) {
	srv := fakeAPI(t, `{"ok":true,"result":{"url":"https://bot.example.net/webhook/telegram","pending_update_count":3,"last_error_date":1764670000,"last_error_message":"Wrong response from the webhook: 503 Service Unavailable"}}`)
	info, err := FetchWebhookInfo(context.Background(), srv.Client(), srv.URL+"/", token+"\n")
	if err != nil {
		t.Fatal(err)
	}
	text := Render(info, true, "https://bot.example.net/webhook/telegram")
	for _, want := range []string{
		"opsbook_telegram_webhook_info_up 1\n",
		"opsbook_telegram_webhook_url_set 1\n",
		"opsbook_telegram_webhook_url_expected 1\n",
		"opsbook_telegram_webhook_pending_update_count 3\n",
		"opsbook_telegram_webhook_last_error_timestamp_seconds 1764670000\n",
		`opsbook_telegram_webhook_last_error_info{message="Wrong response from the webhook: 503 Service Unavailable"} 1` + "\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("missing %q in:\n%s", want, text)
		}
	}
}

func TestNoErrorNoErrorInfo(t *testing.T) {
	srv := fakeAPI(t, `{"ok":true,"result":{"url":"","pending_update_count":0}}`)
	info, err := FetchWebhookInfo(context.Background(), srv.Client(), srv.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	text := Render(info, true, "https://bot.example.net/webhook/telegram")
	if !strings.Contains(text, "opsbook_telegram_webhook_url_set 0\n") || !strings.Contains(text, "opsbook_telegram_webhook_url_expected 0\n") || strings.Contains(text, "last_error_info") {
		t.Errorf("unexpected:\n%s", text)
	}
}

func TestRefusalsNeverShowTheToken(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"ok":false,"error_code":401,"description":"Unauthorized for ` + token + `"}`))
	}))
	defer srv.Close()
	_, err := FetchWebhookInfo(context.Background(), srv.Client(), srv.URL, token)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "401") {
		t.Fatalf("want a 401 without the token, got %v", err)
	}
	srv.Close()
	_, err = FetchWebhookInfo(context.Background(), &http.Client{}, srv.URL, token)
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("want an unreachable API without the token, got %v", err)
	}
	if got := Render(WebhookInfo{}, false, "https://bot.example.net/webhook/telegram"); got != "# HELP opsbook_telegram_webhook_info_up 1 when getWebhookInfo answered ok.\n# TYPE opsbook_telegram_webhook_info_up gauge\nopsbook_telegram_webhook_info_up 0\n" {
		t.Fatalf("a failed scrape renders:\n%s", got)
	}
}

func TestAnotherURLIsNotTheStacks(t *testing.T) {
	srv := fakeAPI(t, `{"ok":true,"result":{"url":"https://elsewhere.example.org/hook","pending_update_count":12}}`)
	info, err := FetchWebhookInfo(context.Background(), srv.Client(), srv.URL, token)
	if err != nil {
		t.Fatal(err)
	}
	text := Render(info, true, "https://bot.example.net/webhook/telegram")
	if !strings.Contains(text, "opsbook_telegram_webhook_url_set 1\n") || !strings.Contains(text, "opsbook_telegram_webhook_url_expected 0\n") {
		t.Errorf("a re-pointed webhook must read as set but not the stack's:\n%s", text)
	}
}
