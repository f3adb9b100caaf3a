using System.Text.Json;
using Onnx;
using Probe.Onnx;
using Xunit;

namespace Probe.Tests.Onnx;

/// <summary>Site names from node names: a real torchvision export's structure, and the rules on small made-up graphs.</summary>
public class OnnxNamingTests
{
    static NodeProto Node(string name, string op, string[] inputs, string[] outputs)
    {
        var n = new NodeProto { Name = name, OpType = op };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        return n;
    }

    static OnnxGraph Graph(IEnumerable<NodeProto> nodes, string[] inputs, string[] outputs, string[] initializers)
    {
        var g = new GraphProto();
        g.Node.AddRange(nodes);
        g.Input.AddRange(inputs.Select(i => new ValueInfoProto { Name = i }));
        g.Output.AddRange(outputs.Select(o => new ValueInfoProto { Name = o }));
        g.Initializer.AddRange(initializers.Select(i => new TensorProto { Name = i }));
        var m = new ModelProto { Graph = g };
        m.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        return OnnxGraph.FromModel(m, "test.onnx");
    }

    [Fact]
    public void TorchvisionResnet18SitesCarryPyTorchsHookNames()
    {
        // Structure of torchvision's resnet18 exported by torch.onnx.export 1.13 (BatchNorm folded into the convs), and
        // the per-call names PyTorch's hooks give its leaf modules: 17 ReLU calls, downsample.0, fc...
        var r = JsonDocument.Parse(File.ReadAllText(OnnxSourceTests.Fixture("reference.json"))).RootElement.GetProperty("resnet18_graph");
        string[] Strings(JsonElement e) => e.EnumerateArray().Select(x => x.GetString()!).ToArray();
        var nodes = r.GetProperty("nodes").EnumerateArray().Select(n => Node(n.GetProperty("name").GetString()!, n.GetProperty("op").GetString()!,
            Strings(n.GetProperty("in")), Strings(n.GetProperty("out"))));
        var graph = Graph(nodes, Strings(r.GetProperty("inputs")), Strings(r.GetProperty("outputs")), Strings(r.GetProperty("initializers")));
        var sites = graph.Candidates.Select(c => c.Name).ToList();
        var hooks = Strings(r.GetProperty("hook_sites"));
        Assert.Equal(17, hooks.Count(h => h.Contains("relu")));
        // Every hooked module the export kept is a site of the same name (BatchNorms are folded into the convs).
        var kept = hooks.Where(h => !h.Contains(".bn") && !h.StartsWith("bn", StringComparison.Ordinal) && !h.EndsWith("downsample.1", StringComparison.Ordinal)).ToList();
        // (the hooks list a module's calls together; sites are in graph order)
        Assert.Equal(kept.Order(StringComparer.Ordinal), sites.Where(s => hooks.Contains(s)).Order(StringComparer.Ordinal));
        Assert.True(sites.IndexOf("layer1.0.conv2") < sites.IndexOf("layer1.0.relu#1"));
        // What hooks cannot see: the residual sums and torch.flatten.
        Assert.Equal(["layer1.0.add", "layer1.1.add", "layer2.0.add", "layer2.1.add", "layer3.0.add", "layer3.1.add", "layer4.0.add", "layer4.1.add", "flatten"],
            sites.Where(s => !hooks.Contains(s)));
        Assert.Equal(17, graph.Candidates.Count(c => c.OpType == "Relu"));
        Assert.Contains("layer4.1.relu#1", sites);
        Assert.Contains("layer2.0.downsample.0", sites);
    }

    [Fact]
    public void NamingRules()
    {
        var graph = Graph(
        [
            Node("/stem/Conv", "Conv", ["x", "w"], ["a"]),
            Node("/enc/enc.0/conv/Conv", "Conv", ["a", "w"], ["b"]),          // a block called twice:
            Node("/enc/enc.0_1/conv/Conv", "Conv", ["b", "w"], ["c"]),        // its conv is enc.0.conv#0, #1
            Node("/conv_1/Relu", "Relu", ["c"], ["d"]),                       // no sibling 'conv': a literal name
            Node("/Shape", "Shape", ["d"], ["s"]),                            // shape arithmetic is not a site
            Node("/Reshape", "Reshape", ["d", "s"], ["e"]),
            Node("/fc/MatMul", "MatMul", ["e", "w2"], ["f"]),                 // a leaf module of two nodes
            Node("/fc/Add", "Add", ["f", "bias"], ["g"]),
            Node("/Add", "Add", ["g", "e"], ["h"]),                           // functional ops at the top level,
            Node("/Add_1", "Add", ["h", "e"], ["i"]),                         // twice
            Node("Relu_7", "Relu", ["i"], ["j"]),                             // other exporters: the node name
            Node("", "Sigmoid", ["j"], ["k"]),                                // or the output name
            Node("dup", "Neg", ["k"], ["l"]),
            Node("dup", "Neg", ["l"], ["y", "y_extra"]),
        ], ["x"], ["y"], ["w", "w2", "bias"]);
        Assert.Equal(["stem", "enc.0.conv#0", "enc.0.conv#1", "conv_1", "reshape", "fc.matmul", "fc", "add#0", "add#1", "Relu_7", "k", "dup#0", "dup#1", "dup#1:1"],
            graph.Candidates.Select(c => c.Name));
        Assert.Equal("Relu", graph.Candidates.Single(c => c.Name == "conv_1").OpType);
        Assert.Equal("e", graph.Candidates.Single(c => c.Name == "fc.matmul").InputTensor);
    }
}
