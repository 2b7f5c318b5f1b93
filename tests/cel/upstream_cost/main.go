// Command upstream_cost prints the worst-case cost Kubernetes 1.36's kube-apiserver
// estimates for DRA selectors, the figure its validation compares with
// resource.k8s.io's CELSelectorExpressionMaxCost (1,000,000).
//
// It reads one expression a line on stdin and writes "<gates>\t<cost>\t<expression>" lines
// (or "<gates>\tERR\t<expression>\t<message>" when the expression does not compile), where
// <gates> is 1 with DRAListTypeAttributes and DRAConsumableCapacity on, 0 with both off.
// The expressions are compiled as kube-apiserver compiles a created object's selectors
// (k8s.io/dynamic-resource-allocation cel `CompileCELExpression`, NewExpressions
// environment, cost estimation on).
//
// tests/cel/test_cel_cost.py builds it with tools/draoracle's go.mod (same module versions)
// and compares its answers with tests/cel/data/upstream_selector_costs.tsv.
package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"k8s.io/apiserver/pkg/cel/environment"
	dracel "k8s.io/dynamic-resource-allocation/cel"
)

func main() {
	gates := "0"
	if len(os.Args) > 1 && os.Args[1] == "gates-on" {
		gates = "1"
	}
	on := gates == "1"
	compiler := dracel.GetCompiler(dracel.Features{EnableConsumableCapacity: on, EnableListTypeAttributes: on})
	envType := environment.NewExpressions
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		expression := lines.Text()
		if strings.TrimSpace(expression) == "" {
			continue
		}
		result := compiler.CompileCELExpression(expression, dracel.Options{EnvType: &envType})
		if result.Error != nil {
			message := strings.ReplaceAll(result.Error.Error(), "\n", " ")
			fmt.Printf("%s\tERR\t%s\t%s\n", gates, expression, message)
			continue
		}
		fmt.Printf("%s\t%d\t%s\n", gates, result.MaxCost, expression)
	}
}
