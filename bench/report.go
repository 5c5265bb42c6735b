package bench

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Verifier looks ids up in the database and says how many are not there and how many are
// there more than once. The caller supplies it (typically a query over the actions table),
// which keeps this package free of database code.
type Verifier func(ctx context.Context, ids []string) (missing, duplicated int, err error)

// VerifyResult is the outcome of IngestReport.Verify.
type VerifyResult struct {
	// Checked is the number of distinct acknowledged action_ids looked up.
	Checked int
	// Missing counts acknowledged actions that are not in the database.
	Missing int
	// Duplicated counts acknowledged actions stored more than once.
	Duplicated int
	// RepeatedAcks counts acknowledgements whose action_id had already been returned for
	// another request. Every request of a run has its own idempotency key, so a repeated
	// id means two distinct actions were acknowledged as one.
	RepeatedAcks int
}

// OK reports whether every acknowledged action is in the database exactly once.
func (v VerifyResult) OK() bool {
	return v.Missing == 0 && v.Duplicated == 0 && v.RepeatedAcks == 0
}

// verifyBatch is how many ids one Verifier call gets at most.
const verifyBatch = 10000

// Verify checks that every acknowledged action of the run is in the database exactly once,
// by handing the distinct AckedIDs to v in batches of at most 10,000. The result is also
// kept in r.Verification so that Print shows it.
func (r *IngestReport) Verify(ctx context.Context, v Verifier) (VerifyResult, error) {
	ids := slices.Clone(r.AckedIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	res := VerifyResult{Checked: len(ids), RepeatedAcks: len(r.AckedIDs) - len(ids)}
	for batch := range slices.Chunk(ids, verifyBatch) {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		missing, duplicated, err := v(ctx, batch)
		if err != nil {
			return res, fmt.Errorf("bench: verify: %w", err)
		}
		res.Missing += missing
		res.Duplicated += duplicated
	}
	r.Verification = &res
	return res, nil
}

// Print writes a human-readable summary of the run to w, including the verification
// result when Verify has run.
func (r *IngestReport) Print(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	o := r.Options
	mode := "closed loop (as fast as concurrency allows)"
	if o.Rate > 0 {
		mode = fmt.Sprintf("open loop, target %d actions/s", o.Rate)
	}
	fmt.Fprintf(tw, "target\t%s (run %s)\n", o.URL, o.RunID)
	fmt.Fprintf(tw, "load\t%s, %s, concurrency %d\n", mode, o.Duration, o.Concurrency)
	if r.WarmupSent > 0 {
		fmt.Fprintf(tw, "warmup\t%s: %d sent, %d acked, %d errors (not in the figures below)\n",
			o.Warmup, r.WarmupSent, r.WarmupAcked, r.WarmupErrors)
	}
	fmt.Fprintf(tw, "sent\t%d\n", r.Sent)
	fmt.Fprintf(tw, "acked\t%d\n", r.Acked)
	fmt.Fprintf(tw, "errors\t%d%s\n", r.Errors, formatKinds(r.ErrorsByKind))
	fmt.Fprintf(tw, "elapsed\t%s\n", r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(tw, "throughput\t%.1f actions/s\n", r.Throughput)
	fmt.Fprintf(tw, "latency\tp50 %s  p95 %s  p99 %s  max %s\n",
		formatMS(r.P50), formatMS(r.P95), formatMS(r.P99), formatMS(r.Max))
	if o.Rate > 0 {
		note := ""
		if r.Late > 0 {
			note = "  (server fell behind: latencies understate queueing)"
		}
		fmt.Fprintf(tw, "late\t%d sends >1ms behind schedule, max lag %s%s\n", r.Late, formatMS(r.MaxLag), note)
	}
	if v := r.Verification; v != nil {
		verdict := "OK: every acked action stored exactly once"
		if !v.OK() {
			verdict = "FAILED"
		}
		fmt.Fprintf(tw, "verify\t%d checked, %d missing, %d duplicated", v.Checked, v.Missing, v.Duplicated)
		if v.RepeatedAcks > 0 {
			fmt.Fprintf(tw, ", %d repeated acks", v.RepeatedAcks)
		}
		fmt.Fprintf(tw, "  %s\n", verdict)
	} else {
		fmt.Fprintf(tw, "verify\tnot run\n")
	}
	tw.Flush()
}

func formatKinds(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	keys := slices.Sorted(maps.Keys(m))
	// Most frequent first; ties alphabetically.
	slices.SortStableFunc(keys, func(a, b string) int { return m[b] - m[a] })
	var sb strings.Builder
	sb.WriteString("  (")
	for i, k := range keys {
		if i > 0 {
			sb.WriteString(", ")
		}
		fmt.Fprintf(&sb, "%s: %d", k, m[k])
	}
	sb.WriteString(")")
	return sb.String()
}

func formatMS(d time.Duration) string {
	return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
}
