package main

import (
	"context"
	"log/slog"

	"github.com/rs/zerolog"
)

func (h zerologHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.level(l) >= h.log.GetLevel()
}

func (h zerologHandler) level(l slog.Level) zerolog.Level {
	switch {
	case l >= slog.LevelError:
		return zerolog.ErrorLevel
	case l >= slog.LevelWarn:
		return zerolog.WarnLevel
	case l >= slog.LevelInfo:
		return zerolog.DebugLevel // exporter-toolkit's info lines are details for lagship
	}
	return zerolog.TraceLevel
}

func (h zerologHandler) Handle(_ context.Context, r slog.Record) error {
	ev := h.log.WithLevel(h.level(r.Level)).Str("component", "http")
	r.Attrs(func(a slog.Attr) bool {
		ev = ev.Interface(a.Key, a.Value.Any())
		return true
	})
	ev.Msg(r.Message)
	return nil
}

func (h zerologHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := h.log.With()
	for _, a := range attrs {
		c = c.Interface(a.Key, a.Value.Any())
	}
	return zerologHandler{c.Logger()}
}

func (h zerologHandler) WithGroup(string) slog.Handler { return h }
