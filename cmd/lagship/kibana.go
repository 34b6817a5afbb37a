package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/lagship/lagship/internal/config"
	"github.com/lagship/lagship/kibana"
)

const kibanaUsage = `Usage:
  lagship kibana export [-format 8|7.17]  print the saved objects (NDJSON)
  lagship kibana import -url URL [-space S] [-username U -password P | -api-key K] [-ca-file F]
  lagship kibana import -config FILE [flags]  the kibana: section of the config; flags override its keys

import asks Kibana for its version (GET /api/status) and sends the format it
takes: 7.17 for Kibana 7.17 and 8.0-8.8, 8 for Kibana 8.9 and later and 9.x.
Secrets can also come from the environment: KIBANA_PASSWORD, KIBANA_API_KEY.
Run 'lagship kibana export -h' or 'lagship kibana import -h' for their flags.
`

const kibanaExportUsage = `Usage: lagship kibana export [-format 8|7.17]

Prints the saved objects as NDJSON, for Stack Management > Saved objects >
Import. -format 8 (the default) imports into Kibana 8.9 and later and 9.x;
-format 7.17 into Kibana 7.17 and every 8.x.
`

const kibanaImportUsage = `Usage: lagship kibana import -url URL | -config FILE [flags]

Imports the saved objects into Kibana, in the format its version takes (GET
/api/status: 7.17 for Kibana 7.17 and 8.0-8.8, 8 for 8.9 and later and 9.x),
replacing objects with the same ids. With -config, the kibana: section of the
file gives url, username, password, api_key, space, ca_file and
insecure_skip_verify; each flag given overrides its key and the others stay.
-api-key replaces the file's username and password, -username or -password
its api_key. With neither -url nor -config, the file $LAGSHIP_CONFIG names is
read as with -config. Without a password or key, KIBANA_PASSWORD (with a
username) or KIBANA_API_KEY from the environment.
`

func cmdKibana(ctx context.Context, args []string, out, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, kibanaUsage)
		return errUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(out, kibanaUsage)
		return nil
	case "export":
		return cmdKibanaExport(args[1:], out, stderr)
	case "import":
		return cmdKibanaImport(ctx, args[1:], out, stderr)
	default:
		fmt.Fprintf(stderr, "lagship kibana: unknown subcommand %q\n%s", args[0], kibanaUsage)
		return errUsage
	}
}

// kibanaFlagSet is a flag set whose help (-h, -help, --help) goes to
// stdout and whose errors go to stderr with the usage.
type kibanaFlagSet struct {
	*flag.FlagSet
	buf bytes.Buffer
}

func newKibanaFlagSet(name, usage string) *kibanaFlagSet {
	k := &kibanaFlagSet{FlagSet: flag.NewFlagSet("lagship kibana "+name, flag.ContinueOnError)}
	k.SetOutput(&k.buf)
	k.Usage = func() {
		fmt.Fprint(k.Output(), usage)
		fmt.Fprintln(k.Output(), "\nFlags:")
		k.PrintDefaults()
	}
	return k
}

// parse parses args. Help is printed to out and returned as flag.ErrHelp
// (exit 0); a bad flag or a stray argument is printed to stderr with the
// usage and returned as errUsage (exit 2).
func (k *kibanaFlagSet) parse(args []string, out, stderr io.Writer) error {
	err := k.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		_, _ = out.Write(k.buf.Bytes())
		return flag.ErrHelp
	case err == nil && k.NArg() > 0:
		fmt.Fprintf(&k.buf, "%s: unexpected argument %q\n", k.Name(), k.Arg(0))
		k.Usage()
		err = errUsage
	case err != nil:
		err = errUsage
	}
	_, _ = stderr.Write(k.buf.Bytes())
	return err
}

func cmdKibanaExport(args []string, out, stderr io.Writer) error {
	fs := newKibanaFlagSet("export", kibanaExportUsage)
	name := fs.String("format", string(kibana.Format8), "saved-object format: 8 (Kibana 8.9+, 9.x) or 7.17 (Kibana 7.17, 8.x)")
	if err := fs.parse(args, out, stderr); err != nil {
		return err
	}
	f, err := kibana.ParseFormat(*name)
	if err != nil {
		fs.buf.Reset()
		fmt.Fprintf(&fs.buf, "lagship kibana export: -format: %v\n", err)
		fs.Usage()
		_, _ = stderr.Write(fs.buf.Bytes())
		return errUsage
	}
	_, err = out.Write(kibana.Bundle(f))
	return err
}

// importFlags are the flags of kibana import that stand for keys of the
// kibana: section.
type importFlags struct {
	url, space, username, password, apiKey, caFile string
	insecure                                       bool
}

func (f *importFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.url, "url", "", "Kibana URL, e.g. https://kibana:5601 (kibana.url)")
	fs.StringVar(&f.space, "space", "", "Kibana space; the default space when empty (kibana.space)")
	fs.StringVar(&f.username, "username", "", "basic auth user (kibana.username)")
	fs.StringVar(&f.password, "password", "", "basic auth password; prefer KIBANA_PASSWORD in the environment (kibana.password)")
	fs.StringVar(&f.apiKey, "api-key", "", "API key, encoded form; prefer KIBANA_API_KEY in the environment (kibana.api_key)")
	fs.StringVar(&f.caFile, "ca-file", "", "PEM CA bundle to trust (kibana.ca_file)")
	fs.BoolVar(&f.insecure, "insecure-skip-verify", false, "do not verify Kibana's TLS certificate, unsafe (kibana.insecure_skip_verify)")
}

// apply overrides the keys of o whose flags were given (set holds their
// names). A flag of one kind of authentication drops the other kind.
func (f *importFlags) apply(o *kibana.ImportOptions, set map[string]bool) {
	if set["api-key"] && !set["username"] && !set["password"] {
		o.Username, o.Password = "", ""
	}
	if (set["username"] || set["password"]) && !set["api-key"] {
		o.APIKey = ""
	}
	for name, apply := range map[string]func(){
		"url":                  func() { o.URL = f.url },
		"space":                func() { o.Space = f.space },
		"username":             func() { o.Username = f.username },
		"password":             func() { o.Password = f.password },
		"api-key":              func() { o.APIKey = f.apiKey },
		"ca-file":              func() { o.CAFile = f.caFile },
		"insecure-skip-verify": func() { o.InsecureSkipVerify = f.insecure },
	} {
		if set[name] {
			apply()
		}
	}
}

// fromEnvironment fills in a missing secret: KIBANA_PASSWORD for a
// username without a password, else KIBANA_API_KEY.
func fromEnvironment(o *kibana.ImportOptions) {
	if o.Password != "" || o.APIKey != "" {
		return
	}
	if o.Username != "" {
		o.Password = os.Getenv("KIBANA_PASSWORD")
		return
	}
	o.APIKey = os.Getenv("KIBANA_API_KEY")
}

func cmdKibanaImport(ctx context.Context, args []string, out, stderr io.Writer) error {
	fs := newKibanaFlagSet("import", kibanaImportUsage)
	var lf logFlags
	lf.register(fs.FlagSet)
	path := fs.String("config", "", "read the kibana: section of this config; flags given override its keys (without -url and -config: $"+configEnv+")")
	var flags importFlags
	flags.register(fs.FlagSet)
	timeout := fs.Duration("timeout", time.Minute, "bound for the status and import requests")
	if err := fs.parse(args, out, stderr); err != nil {
		return err
	}
	log, err := lf.logger(stderr)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// Like the other commands, a container's $LAGSHIP_CONFIG stands for
	// -config; -url alone needs no file.
	cfgPath := *path
	if !set["config"] && !set["url"] {
		cfgPath = os.Getenv(configEnv)
	}
	var o kibana.ImportOptions
	if cfgPath != "" {
		cfg, err := loadConfigFlag(fs.FlagSet, cfgPath)
		if err != nil {
			return err
		}
		o = kibanaOptions(&cfg.Kibana)
	}
	flags.apply(&o, set)
	fromEnvironment(&o)
	if o.URL == "" {
		fmt.Fprint(stderr, "lagship kibana import: -url (or -config, or $"+configEnv+", with kibana.url) is required\n"+kibanaUsage)
		return errUsage
	}
	if o.InsecureSkipVerify {
		log.Warn().Msg("Kibana's TLS certificate is not verified (insecure_skip_verify)")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res, err := kibana.Install(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "imported %d saved objects (%s format) into Kibana %s at %s, space %s\n",
		res.SuccessCount, res.Format, res.Version, redactedURL(o.URL), spaceName(o.Space))
	return nil
}

// redactedURL is u without any password, for messages.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	return p.Redacted()
}

func spaceName(s string) string {
	if s == "" {
		return "default"
	}
	return s
}

func kibanaOptions(k *config.Kibana) kibana.ImportOptions {
	return kibana.ImportOptions{
		URL: k.URL, Space: k.Space, Username: k.Username, Password: k.Password.Reveal(),
		APIKey: k.APIKey.Reveal(), CAFile: k.CAFile, InsecureSkipVerify: k.InsecureSkipVerify,
	}
}

// importOnStart imports the saved objects, in the format Kibana's version
// takes, when kibana.import_on_start is set. A failure is logged, never
// fatal: dashboards are not worth stopping collection for.
func importOnStart(ctx context.Context, cfg *config.Config, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	res, err := kibana.Install(ctx, kibanaOptions(&cfg.Kibana))
	if err != nil {
		log.Error().Err(err).Msg("importing Kibana saved objects")
		return
	}
	log.Info().Int("objects", res.SuccessCount).Str("kibana", redactedURL(cfg.Kibana.URL)).
		Str("space", spaceName(cfg.Kibana.Space)).Stringer("kibana_version", res.Version).
		Str("format", string(res.Format)).Msg("Kibana saved objects imported")
}
