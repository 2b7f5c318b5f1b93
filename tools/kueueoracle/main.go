// Kueue v0.17.0 as an oracle for dralloc.queueing: tools/build.sh builds this program as
// kueue-oracle and tests/queueing/test_kueue_oracle.py sends it scenarios.

// A differential oracle: reads scenarios (JSON lines) and prints what Kueue v0.17's cache and
// flavor assigner decide, one JSON line per scenario.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	schdcache "sigs.k8s.io/kueue/pkg/cache/scheduler"
	"sigs.k8s.io/kueue/pkg/resources"
	"sigs.k8s.io/kueue/pkg/scheduler/flavorassigner"
	"sigs.k8s.io/kueue/pkg/scheduler/preemption"
	"sigs.k8s.io/kueue/pkg/scheduler/preemption/classical"
	preemptioncommon "sigs.k8s.io/kueue/pkg/scheduler/preemption/common"
	"sigs.k8s.io/kueue/pkg/scheduler/preemption/expectations"
	utiltesting "sigs.k8s.io/kueue/pkg/util/testing"
	"sigs.k8s.io/kueue/pkg/workload"
)

type usageEntry struct {
	Flavor   string `json:"flavor"`
	Resource string `json:"resource"`
	Amount   int64  `json:"amount"`
}

type scenario struct {
	Flavors       []kueue.ResourceFlavor  `json:"flavors"`
	Cohorts       []kueue.Cohort          `json:"cohorts"`
	ClusterQueues []kueue.ClusterQueue    `json:"clusterQueues"`
	Usage         map[string][]usageEntry `json:"usage"`
	Target        string                  `json:"target"`
	Workload      kueue.Workload          `json:"workload"`
	// With admitted Workloads, preemption is real: Kueue's classical preemptor is the
	// flavor assigner's oracle, and its targets are returned.
	Admitted []kueue.Workload `json:"admitted"`
	Now      metav1.Time      `json:"now"`
}

type podSetOut struct {
	Name    string            `json:"name"`
	Flavors map[string]string `json:"flavors"`
	Count   int32             `json:"count"`
}

type output struct {
	Mode      string           `json:"mode"`
	Borrowing int              `json:"borrowing"`
	Message   string           `json:"message"`
	PodSets   []podSetOut      `json:"podSets"`
	Usage     map[string]int64 `json:"usage"`
	Available map[string]int64 `json:"available"`
	Potential map[string]int64 `json:"potential"`
	Targets   []targetOut      `json:"targets"`
	Error     string           `json:"error,omitempty"`
}

type targetOut struct {
	Workload string `json:"workload"`
	Reason   string `json:"reason"`
}

// noCandidates answers every simulation with NoCandidates, as dralloc's NoPreemption does.
type noCandidates struct{}

func (noCandidates) SimulatePreemption(_ logr.Logger, cq *schdcache.ClusterQueueSnapshot, _ workload.Info, fr resources.FlavorResource, quantity int64) (preemptioncommon.PreemptionPossibility, int) {
	borrow, _ := classical.FindHeightOfLowestSubtreeThatFits(cq, fr, quantity)
	return preemptioncommon.NoCandidates, borrow
}

func run(sc scenario) output {
	ctx := context.Background()
	log := logr.Discard()
	cache := schdcache.New(utiltesting.NewFakeClient())
	flavors := map[kueue.ResourceFlavorReference]*kueue.ResourceFlavor{}
	for i := range sc.Flavors {
		rf := &sc.Flavors[i]
		flavors[kueue.ResourceFlavorReference(rf.Name)] = rf
		cache.AddOrUpdateResourceFlavor(log, rf)
	}
	for i := range sc.Cohorts {
		if err := cache.AddOrUpdateCohort(&sc.Cohorts[i]); err != nil {
			return output{Error: err.Error()}
		}
	}
	for i := range sc.ClusterQueues {
		if err := cache.AddClusterQueue(ctx, &sc.ClusterQueues[i]); err != nil {
			return output{Error: err.Error()}
		}
	}
	for i := range sc.Admitted {
		if !cache.AddOrUpdateWorkload(log, &sc.Admitted[i]) {
			return output{Error: "could not add admitted workload " + sc.Admitted[i].Name}
		}
	}
	snapshot, err := cache.Snapshot(ctx)
	if err != nil {
		return output{Error: err.Error()}
	}
	names := make([]string, 0, len(sc.Usage))
	for name := range sc.Usage {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		cq := snapshot.ClusterQueue(kueue.ClusterQueueReference(name))
		if cq == nil {
			return output{Error: "no cq " + name}
		}
		q := resources.FlavorResourceQuantities{}
		for _, u := range sc.Usage[name] {
			q[resources.FlavorResource{Flavor: kueue.ResourceFlavorReference(u.Flavor), Resource: corev1.ResourceName(u.Resource)}] += u.Amount
		}
		cq.AddUsage(workload.Usage{Quota: q})
	}
	cq := snapshot.ClusterQueue(kueue.ClusterQueueReference(sc.Target))
	if cq == nil {
		return output{Error: "no target cq"}
	}
	info := workload.NewInfo(&sc.Workload)
	info.ClusterQueue = kueue.ClusterQueueReference(sc.Target)
	var a flavorassigner.Assignment
	var targets []*preemption.Target
	if len(sc.Admitted) > 0 {
		clk := clocktesting.NewFakeClock(sc.Now.Time)
		preemptor := preemption.New(utiltesting.NewFakeClient(), workload.Ordering{}, record.NewFakeRecorder(100), nil, false, clk, nil, expectations.New(), nil)
		a = flavorassigner.New(info, cq, flavors, false, preemption.NewOracle(preemptor, snapshot), nil).Assign(log, nil)
		if a.RepresentativeMode() == flavorassigner.Preempt {
			targets = preemptor.GetTargets(log, *info, a, snapshot)
		}
	} else {
		a = flavorassigner.New(info, cq, flavors, false, noCandidates{}, nil).Assign(log, nil)
	}
	out := output{
		Mode:      a.RepresentativeMode().String(),
		Borrowing: a.Borrowing,
		Message:   a.Message(),
		Usage:     map[string]int64{},
		Available: map[string]int64{},
		Potential: map[string]int64{},
	}
	for _, ps := range a.PodSets {
		p := podSetOut{Name: string(ps.Name), Flavors: map[string]string{}, Count: ps.Count}
		for r, f := range ps.Flavors {
			p.Flavors[string(r)] = string(f.Name)
		}
		out.PodSets = append(out.PodSets, p)
	}
	for _, t := range targets {
		out.Targets = append(out.Targets, targetOut{Workload: t.WorkloadInfo.Obj.Namespace + "/" + t.WorkloadInfo.Obj.Name, Reason: t.Reason})
	}
	sort.Slice(out.Targets, func(i, j int) bool { return out.Targets[i].Workload < out.Targets[j].Workload })
	for fr, v := range a.Usage.Quota {
		out.Usage[string(fr.Flavor)+"/"+string(fr.Resource)] = v
	}
	for _, rg := range sc.ClusterQueues {
		if rg.Name != sc.Target {
			continue
		}
		for _, g := range rg.Spec.ResourceGroups {
			for _, f := range g.Flavors {
				for _, r := range f.Resources {
					fr := resources.FlavorResource{Flavor: f.Name, Resource: r.Name}
					key := string(f.Name) + "/" + string(r.Name)
					out.Available[key] = cq.Available(fr)
					out.Potential[key] = cq.PotentialAvailable(fr)
				}
			}
		}
	}
	return out
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "tas" {
		tasMain()
		return
	}
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for in.Scan() {
		var sc scenario
		var out output
		if err := json.Unmarshal(in.Bytes(), &sc); err != nil {
			out = output{Error: err.Error()}
		} else {
			out = run(sc)
		}
		b, _ := json.Marshal(out)
		fmt.Fprintln(w, string(b))
		w.Flush() // one answer per question: the caller waits for this line

	}
}
