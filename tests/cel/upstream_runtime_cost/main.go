// Command upstream_runtime_cost prints what Kubernetes 1.36's DRA allocator answers, and the
// runtime cost cel-go counted, when it evaluates a selector against a device:
// k8s.io/dynamic-resource-allocation cel `CompileCELExpression` (as the allocator compiles,
// with its default runtime cost limit unless a limit is given) and
// `CompilationResult.DeviceMatches`, whose `EvalDetails.ActualCost` is the cost.
//
// It reads one JSON object a line on stdin, as tests/cel/upstream_eval does
// ({"expression": "...", "driver": "...", "attributes": {...}, "capacity": {...}}, with an
// optional "limit"), and writes one line per input: the answer ("true", "false",
// "ERR <message>", "COMPILE <message>"), a tab, and the actual cost ("-" when none was
// counted). The gates are DRAListTypeAttributes and DRAConsumableCapacity, on with the
// argument "gates-on".
//
// tests/cel/test_cel_runtime_cost.py builds it with tools/draoracle's go.mod (same module
// versions) and compares its answers with tests/cel/data/upstream_runtime_costs.tsv.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	resourceapi "k8s.io/api/resource/v1"
	dracel "k8s.io/dynamic-resource-allocation/cel"
)

type input struct {
	Expression string                                                    `json:"expression"`
	Driver     string                                                    `json:"driver"`
	Attributes map[resourceapi.QualifiedName]resourceapi.DeviceAttribute `json:"attributes"`
	Capacity   map[resourceapi.QualifiedName]resourceapi.DeviceCapacity  `json:"capacity"`
	Limit      *uint64                                                   `json:"limit"`
}

func oneLine(text string) string {
	return strings.ReplaceAll(text, "\n", " ")
}

func main() {
	on := len(os.Args) > 1 && os.Args[1] == "gates-on"
	compiler := dracel.GetCompiler(dracel.Features{EnableConsumableCapacity: on, EnableListTypeAttributes: on})
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		if strings.TrimSpace(lines.Text()) == "" {
			continue
		}
		var in input
		if err := json.Unmarshal(lines.Bytes(), &in); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		result := compiler.CompileCELExpression(in.Expression, dracel.Options{DisableCostEstimation: true, CostLimit: in.Limit})
		if result.Error != nil {
			fmt.Printf("COMPILE %s\t-\n", oneLine(result.Error.Error()))
			continue
		}
		matches, details, err := result.DeviceMatches(context.Background(), dracel.Device{
			Driver: in.Driver, Attributes: in.Attributes, Capacity: in.Capacity,
		})
		cost := "-"
		if details != nil && details.ActualCost() != nil {
			cost = fmt.Sprint(*details.ActualCost())
		}
		if err != nil {
			fmt.Printf("ERR %s\t%s\n", oneLine(err.Error()), cost)
			continue
		}
		fmt.Printf("%t\t%s\n", matches, cost)
	}
}
