package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"time"

	"github.com/mandatehq/mandate/config"
)

// heartbeat is the dead-man's switch: while this server runs, it POSTs its status to
// org.heartbeat_url every org.heartbeat_every, so an outside monitor notices when Mandate
// goes silent. The config is read at every beat, so a reload can change or add the URL.
func heartbeat(ctx context.Context, cfg func() *config.Config, status func() string, log *slog.Logger) {
	client := &http.Client{Timeout: 10 * time.Second}
	failing := false
	for {
		c := cfg()
		every := c.Org.HeartbeatEvery.Duration
		if every <= 0 {
			every = time.Minute
		}
		if url := c.Org.HeartbeatURL; url != "" {
			body, _ := json.Marshal(map[string]string{"service": "mandate", "status": status(), "at": time.Now().UTC().Format(time.RFC3339)})
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err == nil {
				req.Header.Set("Content-Type", "application/json")
				var res *http.Response
				if res, err = client.Do(req); err == nil {
					res.Body.Close()
				}
			}
			switch {
			case err != nil && !failing && ctx.Err() == nil:
				failing = true
				log.Warn("heartbeat failed; the outside monitor may think Mandate is down", "url", url, "err", err)
			case err == nil && failing:
				failing = false
				log.Info("heartbeat delivered again", "url", url)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
