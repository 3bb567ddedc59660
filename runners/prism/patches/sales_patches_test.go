// Tests of the sales-pipeline patches to Prism's engine
// (runners/prism/patches/elementmanager.go.patch), run by
// `runners/prism/setup.sh test` in the patched copy of the engine package.
// Each fails on Beam 2.77's unpatched engine.

package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
)

// continuationInfo and encodeElement are Beam's own helpers in this package
// (elementmanager_continuation_test.go).

// salesPipeline is the shape of the sales pipeline's streaming graph: a
// complete side input (the FX rates), a self-checkpointing read that takes
// it, and a consumer of the read's output.
func salesPipeline(t *testing.T, cfg Config, statefulSink bool) (*ElementManager, <-chan RunBundle, context.CancelCauseFunc) {
	t.Helper()
	ctx, cancelFn := context.WithCancelCause(context.Background())
	em := NewElementManager(cfg)
	em.AddStage("fx", nil, []string{"fx_out"}, nil)
	em.AddStage("impulse", nil, []string{"src_in"}, nil)
	em.AddStage("src", []string{"src_in"}, []string{"sink_in"},
		[]LinkID{{Transform: "src", Global: "fx_out", Local: "fx"}})
	em.AddStage("sink", []string{"sink_in"}, nil,
		[]LinkID{{Transform: "sink", Global: "fx_out", Local: "fx"}})
	if statefulSink {
		em.StageStateful("sink", nil)
	}
	em.Impulse("fx")
	em.Impulse("impulse")
	var i int
	ch := em.Bundles(ctx, cancelFn, func() string {
		defer func() { i++ }()
		return fmt.Sprintf("%v", i)
	})
	return em, ch, cancelFn
}

// A read with nothing new parks its residual with a resume delay. Its stage,
// an ordinary stage with a side input, must then not be ready: Beam 2.77
// took it as ready (its parked residual holds its input watermark below its
// upstream's), built an empty bundle and rescheduled it, and the scheduling
// loop spun until the residual was due.
func TestSalesPatch_WaitingReadIsNotReady(t *testing.T) {
	srcInfo := continuationInfo(t, false)
	em, ch, cancelFn := salesPipeline(t, Config{EnableRTC: true}, false)
	defer cancelFn(nil)
	rb, ok := <-ch
	if !ok || rb.StageID != "src" {
		t.Fatalf("first bundle = %v (open %v), want one of src", rb, ok)
	}
	em.PersistBundle(rb, nil, TentativeData{}, srcInfo, Residuals{
		TransformID: "src",
		InputID:     "i0",
		Data: []Residual{{Element: encodeElement(t, srcInfo, mtime.MinTimestamp),
			Delay: time.Minute}},
	})
	src := em.stages["src"]
	em.refreshCond.L.Lock()
	src.updateWatermarks(em)
	now := em.processingTimeNow()
	em.refreshCond.L.Unlock()
	if _, ready, _, _ := src.bundleReady(em, now); ready {
		src.mu.Lock()
		defer src.mu.Unlock()
		t.Errorf("the read's stage is ready with nothing pending (input watermark %v, %d parked residual times): the scheduler would spin",
			src.input, len(src.delayedResiduals))
	}
}

// A stateful stage that reads only complete side inputs runs on its data as
// one without side inputs does, while the self-checkpointing read upstream
// holds the watermark back. Beam 2.77 made it wait for a watermark change:
// in the sales pipeline the dedupe stage (it prices in USD with the FX
// rates) ran nothing while the read was busy, and the sink saw no pane for
// the 25 s of a 1M-event burst.
func TestSalesPatch_StatefulStageWithCompleteSideInputRunsOnData(t *testing.T) {
	const budget = 50
	srcInfo := continuationInfo(t, false)
	outInfo := continuationInfo(t, true)
	em, ch, cancelFn := salesPipeline(t, Config{}, true)
	defer cancelFn(nil)
	var srcBundles, sinkBundles int
	for b := 0; b < budget && sinkBundles == 0; b++ {
		rb, ok := <-ch
		if !ok {
			t.Fatalf("bundle %d: the bundles channel closed early", b)
		}
		switch rb.StageID {
		case "sink":
			sinkBundles++
			em.PersistBundle(rb, nil, TentativeData{}, outInfo, Residuals{})
		case "src":
			srcBundles++
			td := TentativeData{}
			td.WriteData("sink_in", encodeElement(t, outInfo, mtime.Time(100*srcBundles)))
			em.PersistBundle(rb, map[string]PColInfo{"sink_in": outInfo}, td, srcInfo, Residuals{
				TransformID: "src",
				InputID:     "i0",
				Data:        []Residual{{Element: encodeElement(t, srcInfo, mtime.MinTimestamp)}},
			})
		default:
			t.Fatalf("bundle %d: unexpected stage %v", b, rb.StageID)
		}
	}
	if sinkBundles == 0 {
		t.Errorf("the stateful stage ran no bundle in %d bundles of the read: its data waited for a watermark change",
			srcBundles)
	}
}
