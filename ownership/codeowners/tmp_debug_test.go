package codeowners

import (
	"testing"
)

func BenchmarkTmpHot(b *testing.B) {
	m, c := benchMatcher(), benchData()
	ps := c.paths[:1000]
	i := 0
	for b.Loop() {
		m.Match(ps[i])
		i++
		if i == len(ps) {
			i = 0
		}
	}
}
