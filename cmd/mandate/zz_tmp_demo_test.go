package main

import (
	"context"
	"os"
	"testing"
	"time"
)

func TestTmpDemoSpeed1(t *testing.T) {
	for i := 0; i < 2; i++ {
		env := &environ{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
		start := time.Now()
		code := runDemoForTest(context.Background(), env, "--config", "../../examples/demo/mandate.yaml")
		t.Logf("run %d: exit %d in %s", i, code, time.Since(start))
	}
}

func TestTmpDemoReuse(t *testing.T) {
	for i := 0; i < 2; i++ {
		env := &environ{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
		start := time.Now()
		code := runDemoForTest(context.Background(), env, "--config", "../../examples/demo/mandate.yaml", "--speed", "100", "--database", "postgres:///mandate_demo_reuse_tmp")
		t.Logf("reuse run %d: exit %d in %s", i, code, time.Since(start))
	}
}
