// Package server wires gatehouse together: configuration, stores, services,
// routes and middleware, and runs the HTTP server with a graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-registry/gatehouse/internal/account"
	"github.com/gatehouse-registry/gatehouse/internal/admin"
	"github.com/gatehouse-registry/gatehouse/internal/audit"
	"github.com/gatehouse-registry/gatehouse/internal/auth"
	"github.com/gatehouse-registry/gatehouse/internal/blob"
	"github.com/gatehouse-registry/gatehouse/internal/certificate"
	"github.com/gatehouse-registry/gatehouse/internal/config"
	"github.com/gatehouse-registry/gatehouse/internal/delivery"
	"github.com/gatehouse-registry/gatehouse/internal/hook"
	"github.com/gatehouse-registry/gatehouse/internal/idtoken"
	"github.com/gatehouse-registry/gatehouse/internal/keyring"
	"github.com/gatehouse-registry/gatehouse/internal/metrics"
	"github.com/gatehouse-registry/gatehouse/internal/npmapi"
	"github.com/gatehouse-registry/gatehouse/internal/org"
	"github.com/gatehouse-registry/gatehouse/internal/policy"
	"github.com/gatehouse-registry/gatehouse/internal/registry"
	"github.com/gatehouse-registry/gatehouse/internal/signing"
	"github.com/gatehouse-registry/gatehouse/internal/sso"
	"github.com/gatehouse-registry/gatehouse/internal/store"
	"github.com/gatehouse-registry/gatehouse/internal/throttle"
	"github.com/gatehouse-registry/gatehouse/internal/token"
	"github.com/gatehouse-registry/gatehouse/internal/trust"
	"github.com/gatehouse-registry/gatehouse/internal/uplink"
	"github.com/gatehouse-registry/gatehouse/internal/web"
)

// Server is a configured gatehouse.
type Server struct {
	cfg     config.Config
	log     *slog.Logger
	store   *store.Store
	feed    *store.Feed
	blobs   *blob.Store
	authn   *auth.Authenticator
	metrics *metrics.Metrics
	// Audit is the audit log, which the services write and the admin
	// command line exports.
	Audit    *audit.Log
	Accounts *account.Service
	Registry *registry.Service
	Orgs     *org.Service
	// Signing holds the registry's signing keys (dist.signatures).
	Signing *signing.Service
	// Trust is trusted publishing: npm trust and the OIDC exchange.
	Trust *trust.Service
	// Admin is site administration, for the website and the command line.
	Admin *admin.Service
	// Hooks are the webhooks; dispatch delivers their events.
	Hooks    *hook.Service
	dispatch *hook.Dispatcher
	handler  http.Handler
	// certs is the TLS certificate served when tls_cert and tls_key are
	// set; nil serves plain HTTP.
	certs *certificate.Keeper
}

// certificatePoll is how often the TLS certificate files are checked for a
// renewal (SIGHUP reloads them at once).
const certificatePoll = 2 * time.Second

// Open creates the data folder if needed, opens the database (running
// migrations) and the blob store, and builds the services.
func Open(ctx context.Context, cfg config.Config, log *slog.Logger) (*Server, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data folder %s: %w", cfg.DataDir, err)
	}
	st, err := OpenStore(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	blobs, err := OpenBlobs(ctx, cfg, log)
	if err != nil {
		st.Close()
		return nil, err
	}
	format := token.NewFormat(cfg.TokenPrefix)
	readAccess, err := policy.ParseReadAccess(cfg.ReadAccess)
	if err != nil {
		st.Close()
		blobs.Close()
		return nil, err
	}
	var certs *certificate.Keeper
	if cfg.TLSCert != "" || cfg.TLSKey != "" {
		if certs, err = certificate.New(cfg.TLSCert, cfg.TLSKey, log); err != nil {
			st.Close()
			blobs.Close()
			return nil, err
		}
	}
	s := &Server{certs: certs, cfg: cfg, log: log, store: st, blobs: blobs, feed: store.NewFeed(st, log), metrics: metrics.New(),
		Audit: audit.New(st, audit.Options{Format: format, Retention: cfg.AuditRetention, Log: log})}
	keys, err := loadKey(ctx, cfg, st)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	tokenPolicy := account.DefaultTokenPolicy()
	tokenPolicy.LegacyTokens = cfg.LegacyTokens != "disabled"
	tokenPolicy.MaxWriteTokenDays = cfg.MaxWriteTokenDays
	tokenPolicy.LegacyMaxDays = cfg.LegacyMaxDays
	authn := auth.NewAuthenticator(st, format, s.feed, nil, func() bool { return tokenPolicy.LegacyTokens }, s.metrics, log)
	authn.SetAddressLog(s.Audit)
	s.authn = authn
	s.Accounts, err = account.NewService(st, format, account.Options{
		RegistrationOpen: cfg.Registration == "open",
		SessionTTL:       cfg.SessionTTL,
		Tokens:           tokenPolicy,
		Require2FA:       cfg.Require2FA,
		Keyring:          keys,
		Log:              log,
		OnRevoke:         authn.Forget,
		FlushLastUse:     authn.FlushLastUse,
		Audit:            s.Audit,
		SSOOnly:          cfg.SSOOnly,
	})
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	relying, err := openSSO(cfg, keys, log)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	uplinks, err := openUplinks(cfg, s.metrics)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	// The keys endpoint lists each uplink's keys after gatehouse's own:
	// proxied versions keep the uplink's dist.signatures.
	var keySources []signing.KeySource
	for _, u := range uplinks.All() {
		keySources = append(keySources, signing.NewRemoteKeys(u, st, nil))
	}
	s.Signing, err = signing.NewService(st, keys, signing.Options{Log: log, Sources: keySources})
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	key, created, err := s.Signing.Ensure(ctx)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	if created {
		log.Info("created the registry signing key", slog.String("keyid", key.KeyID))
	}
	s.Registry = registry.NewService(st, blobs, s.Accounts, s.feed, nil, s.metrics, s.Audit)
	s.Registry.SetCacheBytes(int(cfg.CacheSize))
	spool, err := openSpool(cfg.DataDir)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.Registry.SetSpoolDir(spool)
	s.Registry.SetSigner(s.Signing)
	s.Registry.SetReadAccess(readAccess)
	s.Registry.UseUplinks(registry.UplinkOptions{Uplinks: uplinks, AllowUplinkNames: cfg.PublishUplinkNames == "allow",
		Log: log}, s.feed)
	s.Orgs = org.NewService(st, s.Accounts, log, s.Audit)
	s.Orgs.SetReadAccess(readAccess)
	if s.Trust, err = openTrust(cfg, st, s.Accounts, s.Registry, authn, log, s.Audit); err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.Admin = admin.New(st, s.Accounts, s.Registry, admin.Options{Audit: s.Audit, Forget: authn.ForgetAll})
	allow, err := delivery.ParseAllow(cfg.HookAllow)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.Hooks, err = hook.NewService(st, s.Registry, keys, delivery.New(delivery.Options{Allow: allow,
		UserAgent: "gatehouse-hooks"}), hook.Options{Audit: s.Audit, Log: log})
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.dispatch = s.Hooks.NewDispatcher(hook.DispatchOptions{RetryBase: cfg.HookRetry})
	s.feed.Start()
	s.Audit.Start()
	s.dispatch.Start()
	// One budget per address for the API and the website alike.
	limits := throttle.DefaultLimits()
	csrfKey, err := keys.Key("csrf")
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	api := npmapi.New(s.Accounts, s.Registry, s.Orgs, authn, log, npmapi.Options{BaseURL: cfg.URL, Limits: limits, Keys: s.Signing,
		Trust: s.Trust, Audit: s.Audit, Hooks: s.Hooks})
	site := web.New(s.Accounts, s.Registry, s.Orgs, authn, format, log, web.Options{
		// Served over HTTPS, directly or behind a proxy that says so in --url.
		SecureCookies: strings.HasPrefix(cfg.URL, "https://") || certs != nil,
		BaseURL:       cfg.URL,
		Limits:        limits,
		CSRFKey:       csrfKey,
		Admin:         s.Admin,
		Audit:         s.Audit,
		SSO:           relying,
		Hooks:         s.Hooks,
	})
	routes, err := routeTable(api, site, s.ready)
	if err != nil {
		return nil, errors.Join(err, s.Close())
	}
	s.handler = chain(routes, recoverPanics(log, routes), limitBody(cfg.MaxBodySize), pace(cfg.TransferTimeout, cfg.MinTransferRate),
		observe(log, s.metrics, routes), requestContext(cfg.TrustedProxies))
	return s, nil
}

// openSSO builds the single sign-on relying party of the configured
// providers, reading their client secrets; nil when there is none. The
// flows in the browsers' cookies are sealed with a key of the server key.
func openSSO(cfg config.Config, keys *keyring.Keyring, log *slog.Logger) (*sso.Relying, error) {
	if len(cfg.SSOProviders) == 0 {
		return nil, nil
	}
	sealer, err := keys.Sealer("sso flow")
	if err != nil {
		return nil, err
	}
	relying, err := sso.New(cfg.SSOProviders, sealer, sso.Options{})
	if err != nil {
		return nil, err
	}
	names := make([]string, len(cfg.SSOProviders))
	for i, p := range cfg.SSOProviders {
		names[i] = p.Name + " (" + p.Issuer + ")"
	}
	log.Info("single sign-on", slog.String("providers", strings.Join(names, ", ")), slog.Bool("sso_only", cfg.SSOOnly))
	return relying, nil
}

// openTrust builds trusted publishing: the verifier of the trusted
// issuers' ID tokens (none when no issuer is configured: every exchange is
// refused and no configuration can be made), tokens exchanged for the
// configured life, and their revocation forgotten by the authenticator's cache.
func openTrust(cfg config.Config, st *store.Store, accounts *account.Service, reg *registry.Service,
	authn *auth.Authenticator, log *slog.Logger, rec audit.Recorder) (*trust.Service, error) {
	var verifier *idtoken.Verifier
	if len(cfg.TrustedIssuers) > 0 {
		var err error
		verifier, err = idtoken.New(cfg.TrustedIssuers, idtoken.Options{Audience: cfg.Audience()})
		if err != nil {
			return nil, fmt.Errorf("trusted issuers: %w", err)
		}
		urls := make([]string, len(cfg.TrustedIssuers))
		for i, is := range cfg.TrustedIssuers {
			urls[i] = is.URL
		}
		log.Info("trusted publishing", slog.String("audience", cfg.Audience()), slog.String("issuers", strings.Join(urls, ", ")))
	}
	return trust.NewService(st, accounts, reg, trust.Options{
		Verifier: verifier,
		TokenTTL: cfg.OIDCTokenTTL,
		Log:      log,
		OnRevoke: authn.Forget,
		Audit:    rec,
	}), nil
}

// spoolFolder is the folder under the data folder where publishes write
// their tarballs while they are read, before the blob store takes them.
const spoolFolder = "uploads"

// openSpool creates the spool folder under the data folder and removes what
// a publish cut short by a crash left in it: files older than a day (a
// publish in flight in another process sharing the folder is younger).
func openSpool(dataDir string) (string, error) {
	dir := filepath.Join(dataDir, spoolFolder)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", fmt.Errorf("create the upload folder %s: %w", dir, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read the upload folder %s: %w", dir, err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > 24*time.Hour {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return dir, nil
}

// OpenStore opens the metadata database, applying pending migrations:
// PostgreSQL when cfg.Database holds a URL (one database shared by every
// node), else SQLite in the data folder. The URL is logged without its password.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.Store, error) {
	if cfg.Database != "" {
		log.Info("metadata in PostgreSQL", slog.String("database", store.RedactURL(cfg.Database)))
		return store.OpenPostgres(ctx, cfg.Database)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("create data folder %s: %w", cfg.DataDir, err)
	}
	return store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "gatehouse.db"))
}

// keyCheck is the setting holding the fingerprint of the server key that the
// database was first used with.
const keyCheck = "server_key_check"

// loadKey loads (or creates) the server key and checks that it is the key the
// database was first used with: nodes sharing a database must share the key,
// or each would seal two-factor secrets that the others cannot open.
func loadKey(ctx context.Context, cfg config.Config, st *store.Store) (*keyring.Keyring, error) {
	path := cfg.KeyPath()
	var keys *keyring.Keyring
	var err error
	if cfg.Key != "" {
		path = "from " + config.KeyEnv
		keys, err = keyring.Parse(cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("server key %s: %w", config.KeyEnv, err)
		}
	} else if keys, err = keyring.Load(path); err != nil {
		return nil, err
	}
	mine, err := keys.Fingerprint()
	if err != nil {
		return nil, err
	}
	stored, err := st.Q().InitSetting(ctx, keyCheck, mine)
	if err != nil {
		return nil, err
	}
	if stored != mine {
		return nil, fmt.Errorf("the server key %s is not the key this database was first used with: "+
			"every node sharing a database needs the same key (copy it from the first node, or point "+
			"--key-file at a shared copy)", path)
	}
	return keys, nil
}

// OpenSigning opens the registry's signing service on st with the server
// key cfg names (created when missing, and checked against the key st was
// first used with), creating the signing key when st has none, as serve
// does: for tools that write packages straight into the store (bench/seed)
// and whose packages must be signed as a publish's are, not left on the
// signing backlog for the next start.
func OpenSigning(ctx context.Context, cfg config.Config, st *store.Store, log *slog.Logger) (*signing.Service, error) {
	keys, err := loadKey(ctx, cfg, st)
	if err != nil {
		return nil, err
	}
	sg, err := signing.NewService(st, keys, signing.Options{Log: log})
	if err != nil {
		return nil, err
	}
	if _, _, err := sg.Ensure(ctx); err != nil {
		return nil, err
	}
	return sg, nil
}

// OpenBlobs opens the tarball store --blobs names: the folder tarballs under
// the data folder by default, another folder, or an S3-compatible bucket
// (shared by every node), and checks that it answers. The location is logged;
// it never holds credentials, which come from the AWS environment.
func OpenBlobs(ctx context.Context, cfg config.Config, log *slog.Logger) (*blob.Store, error) {
	loc, err := blob.ParseLocation(cfg.Blobs, filepath.Join(cfg.DataDir, "tarballs"))
	if err != nil {
		return nil, fmt.Errorf("blobs: %w", err)
	}
	if loc.Bucket != "" {
		log.Info("tarballs in an S3 bucket", slog.String("blobs", loc.String()))
	} else {
		log.Info("tarballs in a folder", slog.String("blobs", loc.String()))
	}
	return blob.OpenLocation(ctx, loc)
}

// Handler is the whole HTTP handler, middleware included.
func (s *Server) Handler() http.Handler { return s.handler }

// metricsHandler answers GET /metrics on the metrics address, and Go's
// profiles at /debug/pprof/ when --pprof is on; nothing else.
func (s *Server) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler())
	if s.cfg.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// openUplinks builds the uplinks cfg names, every one offline when cfg is,
// reading their tokens from the process's environment or files, obs told
// of the requests sent to them.
func openUplinks(cfg config.Config, obs uplink.Observer) (*uplink.Set, error) {
	var list []*uplink.Uplink
	for _, spec := range cfg.Uplinks {
		spec.Offline = spec.Offline || cfg.Offline
		u, err := uplink.New(spec, uplink.Secrets{})
		if err != nil {
			return nil, err
		}
		list = append(list, u.Observed(obs))
	}
	return uplink.NewSet(list...)
}

// CountLogDrops exposes the log writer's dropped and failed line counts in
// the server's metrics (see logqueue.Writer). Call it once, before Serve.
func (s *Server) CountLogDrops(dropped, failed func() uint64) {
	s.metrics.CountLogDrops(dropped, failed)
}

// Close stops following changes and releases the stores.
func (s *Server) Close() error {
	if s.authn != nil {
		s.authn.Close() // writes the token uses still waiting
	}
	if s.Registry != nil {
		s.Registry.Close() // uplink fetches and revalidations in the background
	}
	if s.dispatch != nil {
		s.dispatch.Close() // deliveries under way; those left wait in the database
	}
	return errors.Join(s.Audit.Close(), s.feed.Close(), s.blobs.Close(), s.store.Close())
}

// Serve answers on ln until ctx is cancelled, then stops taking connections,
// lets in-flight requests finish (up to the shutdown timeout) and returns.
// When metricsLn is not nil, Prometheus metrics are served on it at /metrics
// for as long; the registry's own listener never serves them.
func (s *Server) Serve(ctx context.Context, ln, metricsLn net.Listener) error {
	servers := []*http.Server{s.httpServer(ctx, s.handler)}
	listeners := []net.Listener{ln}
	if metricsLn != nil {
		servers = append(servers, s.httpServer(ctx, s.metricsHandler()))
		listeners = append(listeners, metricsLn)
	}
	// Versions written before registry signatures are signed in the
	// background while the registry serves; a stop interrupts it between
	// two packages, and the next start goes on.
	bgCtx, stopBacklog := context.WithCancel(ctx)
	backlogDone := make(chan struct{})
	go func() {
		defer close(backlogDone)
		s.signBacklog(bgCtx)
	}()
	defer func() {
		stopBacklog()
		<-backlogDone
	}()
	errc := make(chan error, len(servers))
	for i, hs := range servers {
		if i == 0 && s.certs != nil {
			// The registry's address speaks TLS (and HTTP/2, which
			// ServeTLS adds); the metrics address stays plain HTTP.
			hs.TLSConfig = s.certs.TLSConfig()
			go func() { errc <- hs.ServeTLS(listeners[i], "", "") }()
			continue
		}
		go func() { errc <- hs.Serve(listeners[i]) }()
	}
	if s.certs != nil {
		stopWatch := s.watchCertificate(ctx)
		defer stopWatch()
	}
	s.log.Info("gatehouse is serving", slog.String("address", ln.Addr().String()),
		slog.String("data", s.cfg.DataDir), slog.Bool("tls", s.certs != nil))
	if metricsLn != nil {
		s.log.Info("metrics are served at /metrics", slog.String("address", metricsLn.Addr().String()))
	}
	select {
	case err := <-errc:
		// One listener failed: stop the other and report.
		for _, hs := range servers {
			_ = hs.Close()
		}
		for range len(servers) - 1 {
			<-errc
		}
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	s.log.Info("shutting down: draining in-flight requests", slog.Duration("timeout", s.cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, hs := range servers {
		if err := hs.Shutdown(sctx); err != nil {
			// Requests still running past the timeout are cut off; their
			// transactions roll back, so nothing half-written remains. The stop
			// was asked for, so it is still a clean exit.
			s.log.Warn("shutdown timeout reached: closing the connections still open", slog.Any("error", err))
			_ = hs.Close()
		}
	}
	for range servers {
		<-errc
	}
	s.log.Info("stopped cleanly")
	return nil
}

// watchCertificate reloads the TLS certificate on SIGHUP and when its files
// change, until the returned function is called.
func (s *Server) watchCertificate(ctx context.Context) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.certs.Watch(ctx, certificatePoll, hup)
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// signBacklog signs the versions on the signing backlog (those published
// before registry signatures), logging what it did.
func (s *Server) signBacklog(ctx context.Context) {
	n, err := s.store.Q().SigningBacklogSize(ctx)
	if err != nil {
		s.log.Warn("could not read the signing backlog", slog.Any("error", err))
		return
	}
	if n == 0 {
		return
	}
	start := time.Now()
	s.log.Info("signing the versions of packages published before registry signatures", slog.Int("packages", n))
	signed, err := s.Registry.SignBacklog(ctx)
	switch {
	case ctx.Err() != nil:
		s.log.Info("signing stopped; the next start goes on", slog.Int("signed", signed))
	case err != nil:
		s.log.Warn("some packages could not be signed; the next start tries again", slog.Int("signed", signed),
			slog.Any("error", err))
	default:
		s.log.Info("signed the versions published before registry signatures", slog.Int("packages", signed),
			slog.Duration("took", time.Since(start)))
	}
}

// httpServer is an http.Server for h with gatehouse's timeouts, logging
// through the server's logger.
func (s *Server) httpServer(ctx context.Context, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}
