using System.Text.Json;
using Probe.Data;
using Probe.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Models;

/// <summary>
/// The resnet family and torchvision architectures against PyTorch 1.13 / torchvision 0.14 (tests/fixtures/resnet,
/// made by make_resnet.py): state-dict keys, shapes and dtypes, module order, the leaf-module call sequence that
/// PyTorch's forward hooks see, and the narrow resnet's outputs with PyTorch's weights loaded three ways.
/// </summary>
public class ResNetTests
{
    internal static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", "resnet", name);

    static readonly Lazy<JsonDocument> Structure = new(() => JsonDocument.Parse(File.ReadAllBytes(Fixture("structure.json"))));

    static JsonElement Arch(string key) => Structure.Value.RootElement.GetProperty(key);

    static string DTypeName(ScalarType t) => TensorDTypes.FromScalarType(t)!.Value.ToString();

    static void AssertStateDictEqualsPyTorch(nn.Module m, JsonElement arch)
    {
        var expected = arch.GetProperty("state_dict").EnumerateArray()
            .Select(e => $"{e[0].GetString()} [{string.Join(", ", e[1].EnumerateArray().Select(d => d.GetInt64()))}] {e[2].GetString()}").ToArray();
        var actual = m.state_dict().Select(kv => $"{kv.Key} [{string.Join(", ", kv.Value.shape)}] {DTypeName(kv.Value.dtype)}").ToArray();
        Assert.Equal(expected.Order(StringComparer.Ordinal), actual.Order(StringComparer.Ordinal));
    }

    static List<string> LeafCalls(nn.Module<Tensor, Tensor> m, long[] inputShape)
    {
        var calls = new List<string>();
        var removers = new List<Action>();
        foreach (var (name, child) in m.named_modules())
        {
            if (string.IsNullOrEmpty(name) || child.named_children().Any()) continue;
            var leaf = (nn.Module<Tensor, Tensor>)child;
            string n = name;
            removers.Add(leaf.register_forward_hook((_, _, o) => { calls.Add(n); return o; }).remove);
        }
        m.eval();
        using (var scope = NewDisposeScope())
        using (no_grad())
            m.call(zeros(inputShape));
        removers.ForEach(r => r());
        return calls;
    }

    [Theory]
    [InlineData("resnet:18:w4:c5:3x32x32")]
    [InlineData("resnet:34:w8:c10:3x32x32")]
    [InlineData("resnet:50:w8:c10:3x32x32")]
    public void Resnet_family_members_have_pytorchs_keys_modules_and_call_order(string spec)
    {
        var arch = Arch(spec);
        var s = ModelSpec.Parse(spec);
        Assert.Equal(spec, s.ToString());
        using var m = s.Build(0);
        AssertStateDictEqualsPyTorch(m, arch);
        // PyTorch's named_modules order (depth first) and module types.
        var modules = ModelInspector.NamedModules(m).Select(x => $"{x.Name}:{x.Module.GetType().Name}").ToArray();
        Assert.Equal(arch.GetProperty("modules").EnumerateArray().Select(e => $"{e[0].GetString()}:{e[1].GetString()}"), modules);
        Assert.Equal(arch.GetProperty("calls").EnumerateArray().Select(e => e.GetString()), LeafCalls(m, [1, 3, 32, 32]));
    }

    [Theory]
    [InlineData("resnet18", 17)]
    [InlineData("resnet34", 33)]
    [InlineData("resnet50", 49)]
    [InlineData("vgg11", 10)]
    [InlineData("vgg16_bn", 15)]
    [InlineData("alexnet", 7)]
    [InlineData("mobilenet_v2", 35)]
    // vgg11_bn and vgg16 (in structure.json too) share these code paths; each VGG build takes ~5 s, so two are run.
    public void Torchvision_models_have_pytorchs_keys_and_leaf_call_sequence(string name, int reluCalls)
    {
        var arch = Arch("torchvision:" + name);
        var spec = ModelSpec.Parse("torchvision:" + name);
        Assert.Equal([3, 224, 224], spec.InputShape);
        Assert.Equal(1000, spec.Outputs);
        using var m = spec.Build(0);
        AssertStateDictEqualsPyTorch(m, arch);
        // Module names in PyTorch's order (depth first; types differ where torchvision subclasses Sequential).
        // TorchSharp's MobileNetV2 registers classifier before features: the spec's child order restores PyTorch's.
        var modules = ModelInspector.NamedModules(m, spec.LayerNames).Select(x => x.Name).ToArray();
        var expectedModules = arch.GetProperty("modules").EnumerateArray().Select(e => e[0].GetString()).ToArray();
        Assert.Equal(expectedModules, modules);
        var calls = LeafCalls(m, [1, 3, 64, 64]);
        Assert.Equal(arch.GetProperty("calls").EnumerateArray().Select(e => e.GetString()), calls);
        var types = m.named_modules().ToDictionary(x => x.name, x => x.module.GetType().Name);
        Assert.Equal(reluCalls, calls.Count(c => types[c] is "ReLU" or "ReLU6"));
        Assert.Equal(reluCalls, arch.GetProperty("relu_calls").GetInt32());
        Assert.Equal(spec.LayerNames.Order(StringComparer.Ordinal), m.named_children().Select(c => c.name).Order(StringComparer.Ordinal));
    }

    /// <summary>
    /// probe layers listed MobileNetV2's classifier before its features (TorchSharp's registration order); it lists
    /// every module in PyTorch's named_modules() order now (structure.json, torchvision 0.14).
    /// </summary>
    [Fact]
    public void Probe_layers_lists_mobilenet_v2_in_pytorchs_order()
    {
        var (code, output, err) = Probe.Tests.Cli.Cli.Run("layers", "--model", "torchvision:mobilenet_v2:3x32x32", "--json");
        Assert.True(code == 0, err);
        var names = JsonDocument.Parse(output).RootElement.GetProperty("modules").EnumerateArray().Select(e => e.GetProperty("name").GetString()).Where(n => n != "").ToArray();
        Assert.Equal(Arch("torchvision:mobilenet_v2").GetProperty("modules").EnumerateArray().Select(e => e[0].GetString()), names);
    }

    [Fact]
    public void Torchvision_resnet18_reuses_each_blocks_relu_and_counts_17_relu_calls()
    {
        var counts = Arch("torchvision:resnet18").GetProperty("call_counts");
        Assert.Equal(2, counts.GetProperty("layer1.0.relu").GetInt32());
        Assert.Equal(1, counts.GetProperty("relu").GetInt32());
        using var m = ModelSpec.Parse("torchvision:resnet18").Build(0);
        var calls = LeafCalls(m, [1, 3, 64, 64]);
        Assert.Equal(2, calls.Count(c => c == "layer3.1.relu"));
        Assert.Equal(17, calls.Count(c => c.EndsWith("relu", StringComparison.Ordinal)));
        // torchvision:resnet18 is the width-64 member of the family.
        using var r = ModelSpec.Parse("resnet:18").Build(0);
        Assert.Equal(m.state_dict().Keys, r.state_dict().Keys);
        Assert.Equal("resnet:18:w64:c1000:3x224x224", ModelSpec.Parse("resnet:18").ToString());
        Assert.Equal("torchvision:resnet18:c1000:3x224x224", ModelSpec.Parse("torchvision:resnet18").ToString());
    }

    [Fact]
    public void Relu_modules_are_in_place_like_pytorchs()
    {
        using var m = ModelSpec.Parse("resnet:18:w4:c5:32x32").Build(0);
        var relus = m.named_modules().Where(x => x.module is TorchSharp.Modules.ReLU).ToList();
        Assert.Equal(9, relus.Count);
        foreach (var (name, r) in relus)
        {
            using var x = tensor(new float[] { -1f, 2f });
            using var y = ((nn.Module<Tensor, Tensor>)r).call(x);
            Assert.Equal(0f, x[0].ToSingle()); // the input was overwritten
        }
    }

    static float[] Forward(nn.Module<Tensor, Tensor> m, NpyArray x)
    {
        m.eval();
        using var scope = NewDisposeScope();
        using var g = no_grad();
        var data = (float[])x.Data;
        var t = tensor(data, x.Shape.Select(d => (long)d).ToArray()).clone();
        return m.call(t).data<float>().ToArray();
    }

    [Theory]
    [InlineData("resnet18_w4.safetensors")]
    [InlineData("resnet18_w4.pt")]
    [InlineData("sharded/model.safetensors.index.json")]
    [InlineData("sharded")]
    public void Loaded_weights_reproduce_pytorchs_logits(string weights)
    {
        var spec = ModelSpec.Parse("resnet:18:w4:32x32").WithClassesFrom(Fixture(weights));
        Assert.Equal("resnet:18:w4:c5:3x32x32", spec.ToString());
        using var m = spec.Build(0);
        Weights.Load(m, Fixture(weights));
        var y = Forward(m, Npy.Read(Fixture("input.npy")));
        var expected = (float[])Npy.Read(Fixture("logits.npy")).Data;
        Assert.Equal(expected.Length, y.Length);
        double max = 0;
        for (int i = 0; i < y.Length; i++) max = Math.Max(max, Math.Abs(y[i] - expected[i]));
        Assert.True(max <= 1e-4, $"max |logit - PyTorch| = {max}");
        // BatchNorm buffers came through in their own types.
        var sd = m.state_dict();
        Assert.Equal(ScalarType.Int64, sd["layer1.0.bn2.num_batches_tracked"].dtype);
        Assert.True(sd["layer1.0.bn2.num_batches_tracked"].ToInt64() > 1000);
    }

    /// <summary>
    /// A resnet spec without cCLASSES takes its classes from the weights, as a torchvision spec does (resnet:18 is
    /// torchvision's resnet18): resnet:18:w4:3x32x32 with the 5-class weights was refused for a 1000-class fc. Its fc
    /// equals PyTorch's logits.
    /// </summary>
    [Fact]
    public void A_resnet_spec_without_classes_takes_them_from_the_weights()
    {
        var dir = Directory.CreateTempSubdirectory("probe-resnet-classes-").FullName;
        try
        {
            var (code, _, err) = Probe.Tests.Cli.Cli.Run("capture", "--model", "resnet:18:w4:3x32x32", "--weights", Fixture("resnet18_w4.safetensors"),
                "--input", Fixture("input.npy"), "--layers", "fc", "--out", Path.Combine(dir, "cap"), "--quiet");
            Assert.True(code == 0, err);
            var fc = Npy.ReadMatrix(Path.Combine(dir, "cap", "fc.npy"));
            var expected = (float[])Npy.Read(Fixture("logits.npy")).Data;
            Assert.Equal(5, fc.Cols);
            Assert.Equal(expected.Length, fc.Data.Length);
            for (int i = 0; i < expected.Length; i++) Assert.True(Math.Abs(fc.Data[i] - expected[i]) <= 1e-4, $"logit {i}: {fc.Data[i]} vs PyTorch {expected[i]}");
        }
        finally { Directory.Delete(dir, true); }
    }

    /// <summary>
    /// Every call of every leaf module (forward hooks, channel means of 4-D outputs) and every ReLU call's maximum
    /// pre-activation (forward pre-hook, before the in-place ReLU) equal PyTorch's hooks (acts.json).
    /// </summary>
    [Fact]
    public void Every_leaf_call_matches_pytorchs_hooks()
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixture("acts.json")));
        var sites = doc.RootElement.GetProperty("sites").EnumerateArray().ToArray();
        using var m = ModelSpec.Parse("resnet:18:w4:c5:3x32x32").Build(0);
        Weights.Load(m, Fixture("resnet18_w4.safetensors"));
        m.eval();
        var outputs = new List<(string Name, float[] Means)>();
        var preMax = new List<(string Name, float[] Max)>();
        var removers = new List<Action>();
        foreach (var (name, child) in m.named_modules())
        {
            if (string.IsNullOrEmpty(name) || child.named_children().Any()) continue;
            var leaf = (nn.Module<Tensor, Tensor>)child;
            string n = name;
            removers.Add(leaf.register_forward_hook((_, _, o) =>
            {
                using var r = o.dim() == 4 ? o.mean([2, 3]) : o.clone();
                outputs.Add((n, r.data<float>().ToArray()));
                return o;
            }).remove);
            if (child is TorchSharp.Modules.ReLU)
                removers.Add(leaf.register_forward_pre_hook((_, i) =>
                {
                    using var mx = i.transpose(0, 1).reshape(i.shape[1], -1).amax([1]);
                    preMax.Add((n, mx.data<float>().ToArray()));
                    return i;
                }).remove);
        }
        Forward(m, Npy.Read(Fixture("input.npy")));
        removers.ForEach(r => r());

        Assert.Equal(sites.Length, outputs.Count);
        int relu = 0;
        for (int i = 0; i < sites.Length; i++)
        {
            Assert.Equal(sites[i].GetProperty("module").GetString(), outputs[i].Name);
            var expected = (float[])Npy.Read(Fixture(sites[i].GetProperty("file").GetString()!)).Data;
            Assert.Equal(expected.Length, outputs[i].Means.Length);
            for (int j = 0; j < expected.Length; j++)
                Assert.True(Math.Abs(expected[j] - outputs[i].Means[j]) <= 1e-4, $"{sites[i].GetProperty("site").GetString()}[{j}]: {outputs[i].Means[j]} vs PyTorch {expected[j]}");
            if (sites[i].TryGetProperty("max_pre_activation", out var pre))
            {
                var mx = preMax[relu++];
                Assert.Equal(outputs[i].Name, mx.Name);
                var e = pre.EnumerateArray().Select(v => v.GetDouble()).ToArray();
                for (int j = 0; j < e.Length; j++)
                    Assert.True(Math.Abs(e[j] - mx.Max[j]) <= 1e-4 * (1 + Math.Abs(e[j])), $"{sites[i].GetProperty("site").GetString()} pre-activation max [{j}]: {mx.Max[j]} vs PyTorch {e[j]}");
            }
        }
        Assert.Equal(17, relu);
    }

    [Fact]
    public void Build_is_deterministic_per_seed()
    {
        var spec = ModelSpec.Parse("resnet:18:w4:c5:32x32");
        using var a = spec.Build(3);
        using var b = spec.Build(3);
        using var c = spec.Build(4);
        var pa = Weights.Export(a); var pb = Weights.Export(b); var pc = Weights.Export(c);
        for (int i = 0; i < pa.Count; i++) Assert.Equal(pa[i].Data, pb[i].Data);
        Assert.NotEqual(pa[0].Data, pc[0].Data);
        using var v = ModelSpec.Parse("torchvision:mobilenet_v2:c3:3x32x32").Build(3);
        using var w = ModelSpec.Parse("torchvision:mobilenet_v2:c3:3x32x32").Build(3);
        var ev = Weights.Export(v); var ew = Weights.Export(w);
        for (int i = 0; i < ev.Count; i++) Assert.Equal(ev[i].Data, ew[i].Data);
    }

    [Theory]
    [InlineData("resnet:18:w16:c10:32x32", "resnet:18:w16:c10:3x32x32")]
    [InlineData("resnet:50:c7:1x64x48:w8", "resnet:50:w8:c7:1x64x48")]
    [InlineData("RESNET:34", "resnet:34:w64:c1000:3x224x224")]
    [InlineData("torchvision:VGG11_BN:c10:64x64", "torchvision:vgg11_bn:c10:3x64x64")]
    [InlineData("torchvision:alexnet", "torchvision:alexnet:c1000:3x224x224")]
    public void Specs_parse_to_canonical_text(string text, string canonical)
    {
        var spec = ModelSpec.Parse(text);
        Assert.Equal(canonical, spec.ToString());
        Assert.Equal(spec, ModelSpec.Parse(canonical));
    }

    [Theory]
    [InlineData("resnet:19", "valid depths: 18, 34, 50, 101, 152")]
    [InlineData("resnet", "expected resnet:DEPTH")]
    [InlineData("resnet:18:q3", "is not one of wWIDTH, cCLASSES or [C x]HxW")]
    [InlineData("resnet:18:w8:w16", "each at most once")]
    [InlineData("resnet:18:w0", "positive integers")]
    [InlineData("torchvision:resnet19", "known: resnet18, resnet34, resnet50, resnet101, resnet152, vgg11, vgg11_bn, vgg16, vgg16_bn, alexnet, mobilenet_v2")]
    [InlineData("torchvision:alexnet:32x32", "needs at least 63x63")]
    [InlineData("torchvision:vgg11:1x64x64", "3-channel")]
    [InlineData("torchvision:resnet18:w16", "cCLASSES or [C x]HxW")]
    [InlineData("densenet:121", "valid kinds are mlp")]
    public void Bad_specs_name_what_is_valid(string text, string expected)
    {
        var e = Assert.Throws<ProbeException>(() => ModelSpec.Parse(text));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Classes_come_from_the_weights_last_layer()
    {
        var spec = ModelSpec.Parse("torchvision:resnet18:32x32");
        var e = Assert.Throws<ProbeException>(() => ModelSpec.Parse("torchvision:vgg11").WithClassesFrom(Fixture("resnet18_w4.safetensors")));
        Assert.Contains("no 'classifier.6.weight'", e.Message);
        Assert.Equal(5, spec.WithClassesFrom(Fixture("resnet18_w4.pt")).Outputs);
        Assert.Equal(5, spec.WithClassesFrom(Fixture("sharded")).Outputs);
        // Loading the narrow weights into the width-64 model lists every mismatch.
        using var m = spec.WithClassesFrom(Fixture("resnet18_w4.pt")).Build(0);
        var err = Assert.Throws<ProbeException>(() => Weights.Load(m, Fixture("resnet18_w4.pt")));
        Assert.Contains("'conv1.weight' has shape [4, 3, 7, 7] in the file but [64, 3, 7, 7] in the model", err.Message);
        Assert.Contains("'layer4.1.bn2.running_var' has shape [32] in the file but [512] in the model", err.Message);
    }

    [Theory]
    [InlineData("torchvision:resnet18:3x32x32", "resnet18_w4.pt")]
    [InlineData("resnet:18:c5:3x32x32", "resnet18_w4.safetensors")]
    [InlineData("resnet:18:w16:c5:3x32x32", "sharded")]
    public void A_narrower_resnets_weights_name_the_spec_that_fits(string model, string weights)
    {
        // The mismatch list runs to 60 tensors; the message opens with the one thing to change: the base width.
        var e = Assert.Throws<ProbeException>(() => ModelLoader.Open(model, Fixture(weights)));
        Assert.StartsWith("The weights' conv1 has 4 output channels", e.Message);
        Assert.Contains("--model resnet:18:w4:c5:3x32x32", e.Message);
        Assert.Contains("'conv1.weight' has shape [4, 3, 7, 7] in the file", e.Message);
        // Weights that fit the width get no such hint (here the classes differ).
        var other = Assert.Throws<ProbeException>(() => ModelLoader.Open("resnet:18:w4:c7:3x32x32", Fixture(weights)));
        Assert.DoesNotContain("output channels", other.Message);
    }
}
