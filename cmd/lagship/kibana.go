package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/kibana"
)

const kibanaUsage = `Usage:
  lagship kibana export                 print the saved objects (NDJSON)
  lagship kibana import -url URL [-space S] [-username U -password P | -api-key K] [-ca-file F]
  lagship kibana import -config FILE    use the kibana: section of the config
Secrets can also come from the environment: KIBANA_PASSWORD, KIBANA_API_KEY.
`

func cmdKibana(ctx context.Context, args []string, out, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, kibanaUsage)
		return errUsage
	}
	switch args[0] {
	case "export":
		fs := newFlagSet("kibana export", stderr)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		_, err := out.Write(kibana.Bundle(kibana.Format717))
		return err
	case "import":
		return cmdKibanaImport(ctx, args[1:], out, stderr)
	default:
		fmt.Fprintf(stderr, "lagship kibana: unknown subcommand %q\n%s", args[0], kibanaUsage)
		return errUsage
	}
}

func cmdKibanaImport(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := newFlagSet("kibana import", stderr)
	var lf logFlags
	lf.register(fs)
	path := fs.String("config", "", "read url, auth and space from the kibana: section of this config")
	var o kibana.ImportOptions
	fs.StringVar(&o.URL, "url", "", "Kibana URL, e.g. https://kibana:5601")
	fs.StringVar(&o.Space, "space", "", "Kibana space (default space when empty)")
	fs.StringVar(&o.Username, "username", "", "basic auth user")
	fs.StringVar(&o.Password, "password", "", "basic auth password (prefer KIBANA_PASSWORD in the environment)")
	fs.StringVar(&o.APIKey, "api-key", "", "API key, encoded form (prefer KIBANA_API_KEY in the environment)")
	fs.StringVar(&o.CAFile, "ca-file", "", "PEM CA bundle to trust")
	fs.BoolVar(&o.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify Kibana's TLS certificate (unsafe)")
	timeout := fs.Duration("timeout", time.Minute, "bound for the import request")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	if *path != "" {
		cfg, err := loadConfig(*path)
		if err != nil {
			return err
		}
		fromConfig := kibanaOptions(&cfg.Kibana)
		if o.URL == "" {
			o = fromConfig
		}
	}
	if o.Password == "" {
		o.Password = os.Getenv("KIBANA_PASSWORD")
	}
	if o.APIKey == "" {
		o.APIKey = os.Getenv("KIBANA_API_KEY")
	}
	if o.URL == "" {
		fmt.Fprint(stderr, "lagship kibana import: -url (or -config with kibana.url) is required\n"+kibanaUsage)
		return errUsage
	}
	if o.InsecureSkipVerify {
		log.Warn().Msg("Kibana's TLS certificate is not verified (insecure_skip_verify)")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := kibana.Import(ctx, o, kibana.Bundle(kibana.Format717))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %d saved objects into %s\n", res.SuccessCount, o.URL)
	return nil
}

func kibanaOptions(k *config.Kibana) kibana.ImportOptions {
	return kibana.ImportOptions{
		URL: k.URL, Space: k.Space, Username: k.Username, Password: k.Password.Reveal(),
		APIKey: k.APIKey.Reveal(), CAFile: k.CAFile, InsecureSkipVerify: k.InsecureSkipVerify,
	}
}

// importOnStart imports the saved objects when kibana.import_on_start is
// set. A failure is logged, never fatal: dashboards are not worth stopping
// collection for.
func importOnStart(ctx context.Context, cfg *config.Config, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := kibana.Import(ctx, kibanaOptions(&cfg.Kibana), kibana.Bundle(kibana.Format717))
	if err != nil {
		log.Error().Err(err).Msg("importing Kibana saved objects")
		return
	}
	log.Info().Int("objects", res.SuccessCount).Str("kibana", cfg.Kibana.URL).Msg("Kibana saved objects imported")
}
