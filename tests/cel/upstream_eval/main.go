// Command upstream_eval prints what Kubernetes 1.36's DRA allocator answers when it
// evaluates a selector against a device: k8s.io/dynamic-resource-allocation cel
// `CompileCELExpression` (StoredExpressions environment, as the allocator compiles) and
// `CompilationResult.DeviceMatches`.
//
// It reads one JSON object a line on stdin, {"expression": "...", "driver": "...",
// "attributes": {"name": {"string": "..."}}, "capacity": {"name": {"value": "1Gi"}}}
// (attributes and capacities as resource.k8s.io/v1 writes them), and writes one line per
// input: "true", "false", "ERR <message>" for an evaluation error, or
// "COMPILE <message>" when the expression does not compile. The gates are
// DRAListTypeAttributes and DRAConsumableCapacity, on with the argument "gates-on".
//
// tests/cel/test_cel_network_lib.py builds it with tools/draoracle's go.mod (same module
// versions) and compares its answers with tests/cel/data/upstream_network_answers.tsv.
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
	Expression string                                                `json:"expression"`
	Driver     string                                                `json:"driver"`
	Attributes map[resourceapi.QualifiedName]resourceapi.DeviceAttribute `json:"attributes"`
	Capacity   map[resourceapi.QualifiedName]resourceapi.DeviceCapacity  `json:"capacity"`
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
		result := compiler.CompileCELExpression(in.Expression, dracel.Options{DisableCostEstimation: true})
		if result.Error != nil {
			fmt.Printf("COMPILE %s\n", oneLine(result.Error.Error()))
			continue
		}
		matches, _, err := result.DeviceMatches(context.Background(), dracel.Device{
			Driver: in.Driver, Attributes: in.Attributes, Capacity: in.Capacity,
		})
		if err != nil {
			fmt.Printf("ERR %s\n", oneLine(err.Error()))
			continue
		}
		fmt.Printf("%t\n", matches)
	}
}
