package bench

import (
	"math/rand/v2"
	"strconv"
	"time"
	"unicode/utf8"
)

// Generator produces realistic action bodies for POST /v1/actions.
//
// Body n is a pure function of (Seed, RunID, Epoch, n): each body draws from its own
// math/rand/v2 PCG stream seeded with Seed and n, so bodies are reproducible across runs
// and independent of the order in which concurrent workers generate them. Generating a body
// costs about a microsecond and a single allocation (none with AppendBody and a reused
// buffer), so the generator is never the bottleneck of a run.
//
// Bodies carry 2–5 resources, are about 500 bytes long, and mix the action types deploy,
// code_change, db_write, email_send, payment_charge, s3_delete and read over the resource
// kinds service, file, table, bucket, endpoint and config.
type Generator struct {
	// Seed selects the body stream.
	Seed uint64
	// RunID is embedded in idempotency keys: body n has key "bench-<RunID>-<n>".
	RunID string
	// Epoch is the occurred_at of body 0; body n occurred n milliseconds later. The zero
	// value means 2026-11-25T10:00:00Z.
	Epoch time.Time
}

// defaultEpoch is the occurred_at of body 0 when Generator.Epoch is zero.
var defaultEpoch = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// Body returns body n as a new slice.
func (g *Generator) Body(n uint64) []byte {
	return g.AppendBody(make([]byte, 0, 768), n)
}

// IdempotencyKey returns the idempotency key of body n.
func (g *Generator) IdempotencyKey(n uint64) string {
	return "bench-" + g.RunID + "-" + strconv.FormatUint(n, 10)
}

// AppendBody appends body n, a JSON object, to dst and returns the extended slice.
func (g *Generator) AppendBody(dst []byte, n uint64) []byte {
	var r rng
	r.seed(g.Seed, n)

	t := pickType(&r)
	env := environments[r.weighted(environmentWeights[:])]
	var res [5]resource
	k := 2 + r.intn(4)
	res[0] = t.primary(&r)
	for i := 1; i < k; i++ {
		// A handful of tries keeps the resources of one action distinct.
		for try := 0; ; try++ {
			kind := t.kinds[r.intn(len(t.kinds))]
			res[i] = randomResource(&r, kind)
			if try == 4 || !containsResource(res[:i], res[i]) {
				break
			}
		}
	}

	epoch := g.Epoch
	if epoch.IsZero() {
		epoch = defaultEpoch
	}
	occurred := epoch.Add(time.Duration(n) * time.Millisecond).UTC()

	b := append(dst, `{"idempotency_key":"bench-`...)
	b = appendEscaped(b, g.RunID)
	b = append(b, '-')
	b = strconv.AppendUint(b, n, 10)
	b = append(b, `","type":"`...)
	b = append(b, t.name...)
	b = append(b, `","summary":"`...)
	// Summary and params are drawn together so they agree (same version, same row count).
	var p params
	p.draw(&r, t)
	b = p.appendSummary(b, t, &res[0], env)
	b = append(b, `","resources":[`...)
	for i := 0; i < k; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = res[i].appendJSON(b)
	}
	b = append(b, `],"environment":"`...)
	b = append(b, env...)
	b = append(b, `","reversibility":"`...)
	b = append(b, t.reversibility(&r)...)
	b = append(b, `","params":`...)
	b = p.appendJSON(b, t)
	b = append(b, `,"session":"sess-`...)
	b = strconv.AppendInt(b, int64(r.intn(64)), 10)
	b = append(b, `","occurred_at":"`...)
	b = occurred.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `"}`...)
	return b
}

// rng is a PCG stream with the few helpers the generator needs; it lives on the stack.
type rng struct{ p rand.PCG }

func (r *rng) seed(seed, n uint64) {
	// Mix n so neighbouring bodies start from unrelated states.
	r.p.Seed(seed, splitmix64(n^0x6a09e667f3bcc909))
}

func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// intn returns a number in [0, n). The modulo bias is irrelevant for n this small.
func (r *rng) intn(n int) int { return int(r.p.Uint64() % uint64(n)) }

// between returns a number in [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

func (r *rng) weighted(w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	v := r.intn(total)
	for i, x := range w {
		if v < x {
			return i
		}
		v -= x
	}
	return len(w) - 1
}

func pick(r *rng, s []string) string { return s[r.intn(len(s))] }

// resource is one entry of "resources". For files a is the repository and b the path;
// for every other kind a is the name.
type resource struct {
	kind, a, b string
	// shard, when nonzero, is appended to the name ("-3") to widen the name space.
	shard int
}

func (x *resource) appendJSON(b []byte) []byte {
	b = append(b, `{"kind":"`...)
	b = append(b, x.kind...)
	if x.kind == "file" {
		b = append(b, `","repo":"`...)
		b = append(b, x.a...)
		b = append(b, `","path":"`...)
		b = append(b, x.b...)
	} else {
		b = append(b, `","name":"`...)
		b = x.appendName(b)
	}
	return append(b, `"}`...)
}

func (x *resource) appendName(b []byte) []byte {
	b = append(b, x.a...)
	b = append(b, x.b...)
	if x.shard > 0 {
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(x.shard), 10)
	}
	return b
}

func containsResource(rs []resource, x resource) bool {
	for _, y := range rs {
		if y == x {
			return true
		}
	}
	return false
}

func randomResource(r *rng, kind string) resource {
	switch kind {
	case "service":
		x := resource{kind: kind, a: pick(r, services)}
		if r.intn(4) == 0 {
			x.shard = r.between(1, 9)
		}
		return x
	case "file":
		return resource{kind: kind, a: pick(r, repos), b: pick(r, paths)}
	case "table":
		return resource{kind: kind, a: pick(r, tables)}
	case "bucket":
		return resource{kind: kind, a: pick(r, buckets)}
	case "endpoint":
		return resource{kind: kind, a: pick(r, endpoints)}
	default: // config
		return resource{kind: "config", a: pick(r, services), b: pick(r, configKeys)}
	}
}

// actionType describes one action type: its primary resource kind, the kinds of its other
// resources, and how reversible it usually is.
type actionType struct {
	name    string
	weight  int
	first   string
	kinds   []string
	revs    []string
	revWgts []int
}

func (t *actionType) primary(r *rng) resource { return randomResource(r, t.first) }

func (t *actionType) reversibility(r *rng) string { return t.revs[r.weighted(t.revWgts)] }

var actionTypes = []actionType{
	{name: "deploy", weight: 12, first: "service", kinds: []string{"file", "config", "endpoint", "table"},
		revs: []string{"reversible", "unknown"}, revWgts: []int{9, 1}},
	{name: "code_change", weight: 20, first: "file", kinds: []string{"file", "file", "service", "config"},
		revs: []string{"reversible"}, revWgts: []int{1}},
	{name: "db_write", weight: 18, first: "table", kinds: []string{"table", "service", "file"},
		revs: []string{"reversible", "irreversible", "unknown"}, revWgts: []int{4, 3, 3}},
	{name: "email_send", weight: 10, first: "endpoint", kinds: []string{"service", "table", "config"},
		revs: []string{"irreversible"}, revWgts: []int{1}},
	{name: "payment_charge", weight: 10, first: "endpoint", kinds: []string{"service", "table", "config"},
		revs: []string{"irreversible", "reversible"}, revWgts: []int{4, 1}},
	{name: "s3_delete", weight: 5, first: "bucket", kinds: []string{"service", "bucket", "config"},
		revs: []string{"irreversible", "unknown"}, revWgts: []int{4, 1}},
	{name: "read", weight: 25, first: "table", kinds: []string{"table", "bucket", "file", "config", "endpoint"},
		revs: []string{"reversible"}, revWgts: []int{1}},
}

var actionTypeWeights = func() []int {
	w := make([]int, len(actionTypes))
	for i, t := range actionTypes {
		w[i] = t.weight
	}
	return w
}()

func pickType(r *rng) *actionType { return &actionTypes[r.weighted(actionTypeWeights)] }

var (
	environments       = [...]string{"production", "staging", "development"}
	environmentWeights = [...]int{5, 3, 2}
)

var services = []string{
	"payments-api", "billing-worker", "checkout-web", "auth-service", "ledger",
	"notifications", "search-indexer", "inventory-api", "shipping-router", "fraud-scorer",
	"user-profile", "reporting-etl", "api-gateway", "webhooks-relay", "pricing-engine",
	"catalog-api", "session-store", "export-worker",
}

var repos = []string{
	"acme/api", "acme/web", "acme/infra", "acme/payments", "acme/data-pipeline",
	"acme/mobile", "acme/platform",
}

var paths = []string{
	"src/payments/charge.go", "src/payments/refund.go", "src/billing/invoice.go",
	"internal/auth/session.go", "internal/auth/middleware.go", "pkg/ledger/entry.go",
	"cmd/server/main.go", "deploy/k8s/payments-api.yaml", "deploy/terraform/rds.tf",
	"migrations/0042_add_invoice_status.sql", "web/src/components/Checkout.tsx",
	"web/src/pages/account/settings.tsx", "jobs/reporting/monthly.py", "Dockerfile",
	"config/feature_flags.yaml", "internal/search/indexer.go", "README.md",
}

var tables = []string{
	"billing.invoices", "billing.subscriptions", "public.users", "public.orders",
	"ledger.entries", "payments.charges", "payments.refunds", "analytics.events",
	"auth.sessions", "inventory.stock_levels", "shipping.labels", "crm.contacts",
}

var buckets = []string{
	"acme-prod-backups", "acme-user-uploads", "acme-logs-archive", "acme-invoices-pdf",
	"acme-ml-datasets", "acme-static-assets", "acme-data-lake",
}

var endpoints = []string{
	"https://api.stripe.com/v1/charges", "https://api.stripe.com/v1/refunds",
	"https://api.sendgrid.com/v3/mail/send", "https://api.postmarkapp.com/email",
	"https://hooks.slack.com/services/T000/B000", "https://api.acme.com/v1/customers",
	"https://adyen.example.com/pal/servlet/Payment/v68/authorise",
}

var configKeys = []string{
	"/feature-flags", "/rate-limits", "/session-ttl", "/replicas", "/db-pool-size",
	"/retry-policy", "/cors-origins",
}

var (
	strategies     = []string{"rolling", "blue-green", "canary"}
	branches       = []string{"main", "release/1.42", "fix/refund-rounding", "feat/invoice-pdf"}
	statements     = []string{"UPDATE", "INSERT", "DELETE", "UPSERT"}
	emailTemplates = []string{"invoice-reminder", "password-reset", "weekly-digest", "payment-failed", "welcome"}
	currencies     = []string{"usd", "eur", "gbp"}
	reports        = []string{"monthly revenue report", "churn analysis", "audit export", "support lookup"}
)

// params holds the numbers and words one action's summary and params share.
type params struct {
	n1, n2, n3 int
	s1         string
}

func (p *params) draw(r *rng, t *actionType) {
	switch t.name {
	case "deploy":
		p.n1, p.n2, p.n3 = r.intn(60), r.intn(20), r.between(2, 12) // minor, patch, replicas
		p.s1 = pick(r, strategies)
	case "code_change":
		p.n1, p.n2, p.n3 = r.between(1, 400), r.intn(200), int(r.p.Uint64()>>36) // +, -, commit
		p.s1 = pick(r, branches)
	case "db_write":
		p.n1 = r.between(1, 5000) // rows
		p.s1 = pick(r, statements)
	case "email_send":
		p.n1 = r.between(1, 250) // recipients
		p.s1 = pick(r, emailTemplates)
	case "payment_charge":
		p.n1, p.n2 = r.between(500, 250000), r.between(1000, 99999) // cents, customer
		p.s1 = pick(r, currencies)
	case "s3_delete":
		p.n1, p.n2 = r.between(1, 2000), r.between(1, 12) // objects, month
	case "read":
		p.n1 = r.between(10, 100000) // rows
		p.s1 = pick(r, reports)
	}
}

func (p *params) appendSummary(b []byte, t *actionType, first *resource, env string) []byte {
	switch t.name {
	case "deploy":
		b = append(b, "Deploy "...)
		b = first.appendName(b)
		b = append(b, " v1."...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(p.n2), 10)
		b = append(b, " to "...)
		b = append(b, env...)
	case "code_change":
		b = append(b, "Change "...)
		b = append(b, first.b...)
		b = append(b, " in "...)
		b = append(b, first.a...)
		b = append(b, " (+"...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, " -"...)
		b = strconv.AppendInt(b, int64(p.n2), 10)
		b = append(b, ')')
	case "db_write":
		b = append(b, p.s1...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, " rows in "...)
		b = first.appendName(b)
	case "email_send":
		b = append(b, "Send "...)
		b = append(b, p.s1...)
		b = append(b, " email to "...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, " recipients"...)
	case "payment_charge":
		b = append(b, "Charge customer cus_"...)
		b = strconv.AppendInt(b, int64(p.n2), 10)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(p.n1/100), 10)
		b = append(b, '.')
		if c := p.n1 % 100; c < 10 {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(p.n1%100), 10)
		b = append(b, ' ')
		b = append(b, p.s1...)
	case "s3_delete":
		b = append(b, "Delete "...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, " objects under s3://"...)
		b = first.appendName(b)
		b = append(b, "/logs/2026/"...)
		b = appendTwoDigits(b, p.n2)
		b = append(b, '/')
	case "read":
		b = append(b, "Read "...)
		b = first.appendName(b)
		b = append(b, " for "...)
		b = append(b, p.s1...)
	}
	return b
}

func (p *params) appendJSON(b []byte, t *actionType) []byte {
	switch t.name {
	case "deploy":
		b = append(b, `{"version":"1.`...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, '.')
		b = strconv.AppendInt(b, int64(p.n2), 10)
		b = append(b, `","replicas":`...)
		b = strconv.AppendInt(b, int64(p.n3), 10)
		b = append(b, `,"strategy":"`...)
		b = append(b, p.s1...)
		b = append(b, `"}`...)
	case "code_change":
		b = append(b, `{"commit":"`...)
		b = appendHex7(b, p.n3)
		b = append(b, `","branch":"`...)
		b = append(b, p.s1...)
		b = append(b, `","lines_added":`...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, `,"lines_removed":`...)
		b = strconv.AppendInt(b, int64(p.n2), 10)
		b = append(b, '}')
	case "db_write":
		b = append(b, `{"statement":"`...)
		b = append(b, p.s1...)
		b = append(b, `","rows":`...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, `,"transaction":true}`...)
	case "email_send":
		b = append(b, `{"template":"`...)
		b = append(b, p.s1...)
		b = append(b, `","recipients":`...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, '}')
	case "payment_charge":
		b = append(b, `{"amount_cents":`...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, `,"currency":"`...)
		b = append(b, p.s1...)
		b = append(b, `","customer":"cus_`...)
		b = strconv.AppendInt(b, int64(p.n2), 10)
		b = append(b, `"}`...)
	case "s3_delete":
		b = append(b, `{"prefix":"logs/2026/`...)
		b = appendTwoDigits(b, p.n2)
		b = append(b, `/","objects":`...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, '}')
	case "read":
		b = append(b, `{"purpose":"`...)
		b = append(b, p.s1...)
		b = append(b, `","rows":`...)
		b = strconv.AppendInt(b, int64(p.n1), 10)
		b = append(b, '}')
	}
	return b
}

func appendTwoDigits(b []byte, v int) []byte {
	return append(b, byte('0'+v/10%10), byte('0'+v%10))
}

func appendHex7(b []byte, v int) []byte {
	const hex = "0123456789abcdef"
	for shift := 24; shift >= 0; shift -= 4 {
		b = append(b, hex[(v>>shift)&0xf])
	}
	return b
}

// appendEscaped appends s as the contents of a JSON string: quotes, backslashes and control
// characters are escaped, and invalid UTF-8 becomes U+FFFD.
func appendEscaped(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', byte(c))
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			b = append(b, byte(c))
		default:
			b = utf8.AppendRune(b, c)
		}
	}
	return b
}
