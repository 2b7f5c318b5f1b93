// The TAS mode (`kueue-oracle tas`): Kueue v0.17.0's TASFlavorSnapshot answers one case per
// line (the protocol is in tests/queueing/test_tas_oracle.py's docstring), so dralloc's
// topology domain search can be compared with Kueue's own.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kueue "sigs.k8s.io/kueue/apis/kueue/v1beta2"
	schdcache "sigs.k8s.io/kueue/pkg/cache/scheduler"
	tasindexer "sigs.k8s.io/kueue/pkg/controller/tas/indexer"
	"sigs.k8s.io/kueue/pkg/resources"
	utiltesting "sigs.k8s.io/kueue/pkg/util/testing"
)

type tasNodeIn struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
	CPU    string            `json:"cpu"`
	Pods   string            `json:"pods"`
}

type tasPodSetIn struct {
	Name    string                       `json:"name"`
	Count   int32                        `json:"count"`
	CPU     int64                        `json:"cpu"`
	Request *kueue.PodSetTopologyRequest `json:"topologyRequest"`
	Implied bool                         `json:"implied"`
}

type tasCaseIn struct {
	Levels  []string      `json:"levels"`
	Nodes   []tasNodeIn   `json:"nodes"`
	PodSets []tasPodSetIn `json:"podSets"`
	// Together: place the pod sets in one call (Kueue's assumed usage between them).
	Together bool `json:"together"`
}

type tasDomainOut struct {
	Values []string `json:"values"`
	Count  int32    `json:"count"`
}

type tasPodSetOut struct {
	Failure string         `json:"failure"`
	Levels  []string       `json:"levels"`
	Domains []tasDomainOut `json:"domains"`
}

func runTAS(c tasCaseIn) (map[string]tasPodSetOut, error) {
	ctx := context.Background()
	log := logr.Discard()
	nodes := make([]corev1.Node, len(c.Nodes))
	objs := []client.Object{}
	for i, n := range c.Nodes {
		nodes[i] = corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels},
			Status: corev1.NodeStatus{
				Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(n.CPU), corev1.ResourcePods: resource.MustParse(n.Pods)},
				Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			},
		}
		objs = append(objs, &nodes[i])
	}
	b := utiltesting.NewClientBuilder()
	b.WithObjects(objs...)
	_ = tasindexer.SetupIndexes(ctx, utiltesting.AsIndexer(b))
	cl := b.Build()
	cache := schdcache.New(cl)
	levels := []kueue.TopologyLevel{}
	for _, l := range c.Levels {
		levels = append(levels, kueue.TopologyLevel{NodeLabel: l})
	}
	cache.AddOrUpdateTopology(log, &kueue.Topology{ObjectMeta: metav1.ObjectMeta{Name: "default"}, Spec: kueue.TopologySpec{Levels: levels}})
	topo := kueue.TopologyReference("default")
	cache.AddOrUpdateResourceFlavor(log, &kueue.ResourceFlavor{ObjectMeta: metav1.ObjectMeta{Name: "tas"}, Spec: kueue.ResourceFlavorSpec{TopologyName: &topo}})
	cq := &kueue.ClusterQueue{ObjectMeta: metav1.ObjectMeta{Name: "cq"}, Spec: kueue.ClusterQueueSpec{
		NamespaceSelector: &metav1.LabelSelector{},
		ResourceGroups:    []kueue.ResourceGroup{{CoveredResources: []corev1.ResourceName{corev1.ResourceCPU}, Flavors: []kueue.FlavorQuotas{{Name: "tas", Resources: []kueue.ResourceQuota{{Name: corev1.ResourceCPU, NominalQuota: resource.MustParse("100000")}}}}}},
	}}
	if err := cache.AddClusterQueue(ctx, cq); err != nil {
		return nil, err
	}
	for i := range nodes {
		cache.TASCache().SyncNode(&nodes[i])
	}
	snap, err := cache.Snapshot(ctx)
	if err != nil {
		return nil, err
	}
	tas := snap.ClusterQueue("cq").TASFlavors["tas"]
	if tas == nil {
		return nil, fmt.Errorf("no TAS snapshot")
	}
	out := map[string]tasPodSetOut{}
	if c.Together {
		reqs := schdcache.FlavorTASRequests{}
		for _, ps := range c.PodSets {
			podSet := &kueue.PodSet{Name: kueue.PodSetReference(ps.Name), Count: ps.Count, TopologyRequest: ps.Request}
			reqs = append(reqs, schdcache.TASPodSetRequests{PodSet: podSet, SinglePodRequests: resources.Requests{corev1.ResourceCPU: ps.CPU}, Count: ps.Count, Flavor: "tas", Implied: ps.Implied})
		}
		res := tas.FindTopologyAssignmentsForFlavor(reqs)
		for name, r := range res {
			o := tasPodSetOut{Failure: r.FailureReason}
			if r.TopologyAssignment != nil {
				o.Levels = r.TopologyAssignment.Levels
				for _, d := range r.TopologyAssignment.Domains {
					o.Domains = append(o.Domains, tasDomainOut{Values: d.Values, Count: d.Count})
				}
			}
			out[string(name)] = o
		}
		return out, nil
	}
	for _, ps := range c.PodSets {
		podSet := &kueue.PodSet{Name: kueue.PodSetReference(ps.Name), Count: ps.Count, TopologyRequest: ps.Request}
		req := schdcache.TASPodSetRequests{PodSet: podSet, SinglePodRequests: resources.Requests{corev1.ResourceCPU: ps.CPU}, Count: ps.Count, Flavor: "tas", Implied: ps.Implied}
		res := tas.FindTopologyAssignmentsForFlavor(schdcache.FlavorTASRequests{req})
		r := res[podSet.Name]
		o := tasPodSetOut{Failure: r.FailureReason}
		if r.TopologyAssignment != nil {
			o.Levels = r.TopologyAssignment.Levels
			for _, d := range r.TopologyAssignment.Domains {
				o.Domains = append(o.Domains, tasDomainOut{Values: d.Values, Count: d.Count})
			}
		}
		out[ps.Name] = o
	}
	return out, nil
}

func tasMain() {
	in := bufio.NewScanner(os.Stdin)
	in.Buffer(make([]byte, 1<<20), 1<<26)
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	for in.Scan() {
		var c tasCaseIn
		var res any
		if err := json.Unmarshal(in.Bytes(), &c); err != nil {
			res = map[string]string{"error": err.Error()}
		} else if out, err := runTAS(c); err != nil {
			res = map[string]string{"error": err.Error()}
		} else {
			res = out
		}
		b, _ := json.Marshal(res)
		fmt.Fprintln(w, string(b))
		w.Flush() // one answer per question: the caller may wait for this line
	}
}
