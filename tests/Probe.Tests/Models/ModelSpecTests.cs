using Probe.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Models;

public class ModelSpecTests
{
    [Fact]
    public void Mlp_children_are_named_like_pytorch()
    {
        var spec = ModelSpec.Parse("mlp:64-128-64-32-10:relu");
        using var m = spec.Build(0);
        var names = m.named_children().Select(c => c.name).ToArray();
        Assert.Equal(["fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4"], names);
        Assert.Equal(names, spec.LayerNames);
        Assert.Equal([64], spec.InputShape);
        Assert.Equal(10, spec.Outputs);
        var pnames = m.named_parameters().Select(p => p.name).ToArray();
        Assert.Equal(["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight", "fc4.bias"], pnames);
    }

    [Theory]
    [InlineData("tanh", "tanh1")]
    [InlineData("leaky_relu", "leaky_relu1")]
    [InlineData("sigmoid", "sigmoid1")]
    [InlineData("gelu", "gelu1")]
    public void Activation_children_are_named_by_kind_and_index(string act, string first)
    {
        using var m = ModelSpec.Parse($"mlp:4-5-6-3:{act}").Build(1);
        var names = m.named_children().Select(c => c.name).ToArray();
        Assert.Equal(["fc1", first, "fc2", act + "2", "fc3"], names);
    }

    [Fact]
    public void Cnn_children_and_shapes()
    {
        var spec = ModelSpec.Parse("cnn:8x8:10");
        Assert.Equal("cnn:1x8x8:10:8-16-64:relu", spec.ToString());
        Assert.Equal([1, 8, 8], spec.InputShape);
        using var m = spec.Build(0);
        Assert.Equal(["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "fc1", "relu3", "fc2"], m.named_children().Select(c => c.name).ToArray());
        using var x = randn(3, 1, 8, 8);
        using var y = m.call(x);
        Assert.Equal([3L, 10L], y.shape);
        using var flat = x.reshape(3, 64);
        using var y2 = m.call(flat);
        Assert.Equal(y.data<float>().ToArray(), y2.data<float>().ToArray());

        using var m28 = ModelSpec.Parse("cnn:28x28:10").Build(0);
        using var y28 = m28.call(zeros(2, 1, 28, 28));
        Assert.Equal([2L, 10L], y28.shape);
    }

    [Fact]
    public void Mlp_accepts_image_shaped_input_by_flattening()
    {
        using var m = ModelSpec.Parse("mlp:64-10").Build(3);
        using var x = randn(2, 1, 8, 8);
        using var y = m.call(x);
        using var y2 = m.call(x.reshape(2, 64));
        Assert.Equal(y.data<float>().ToArray(), y2.data<float>().ToArray());
        var e = Assert.Throws<ProbeException>(() => m.call(randn(2, 63)));
        Assert.Contains("[N, 64]", e.Message);
    }

    [Fact]
    public void Hooks_fire_for_every_child_in_order()
    {
        using var m = ModelSpec.Parse("cnn:8x8:10").Build(0);
        var fired = new List<string>();
        var removers = new List<Action>();
        foreach (var (name, child) in m.named_children())
        {
            var c = (nn.Module<Tensor, Tensor>)child;
            var h = c.register_forward_hook((mod, input, output) => { fired.Add(name); return output; });
            removers.Add(h.remove);
        }
        using (var y = m.call(zeros(1, 1, 8, 8))) { }
        Assert.Equal(m.named_children().Select(c => c.name), fired);
        removers.ForEach(r => r());
    }

    [Theory]
    [InlineData("mlp:64-128-64-32-10:relu")]
    [InlineData("mlp:3-2:tanh")]
    [InlineData("cnn:1x28x28:10:16-32-128:gelu")]
    [InlineData("cnn:3x16x12:5:4-8-16:leaky_relu")]
    public void Canonical_text_round_trips(string text)
    {
        var spec = ModelSpec.Parse(text);
        Assert.Equal(text, spec.ToString());
        Assert.Equal(spec, ModelSpec.Parse(spec.ToString()));
    }

    [Fact]
    public void Defaults_fill_in_the_canonical_form()
    {
        Assert.Equal("mlp:64-10:relu", ModelSpec.Parse("MLP:64-10").ToString());
        Assert.Equal("cnn:1x28x28:10:8-16-64:tanh", ModelSpec.Parse("cnn:28x28:10:tanh").ToString());
    }

    [Theory]
    [InlineData("densenet:121", "unknown model kind")]
    [InlineData("mlp:64", "at least two widths")]
    [InlineData("mlp:64-0-10", "positive integers")]
    [InlineData("mlp:64-x-10", "positive integers")]
    [InlineData("mlp:64-10:swish", "valid activations: relu, leaky_relu, tanh, sigmoid, gelu")]
    [InlineData("cnn:8:10", "HxW or CxHxW")]
    [InlineData("cnn:2x2:10", "too small")]
    [InlineData("cnn:8x8:10:8-16", "three integers")]
    public void Bad_specs_fail_with_clear_messages(string text, string expected)
    {
        var e = Assert.Throws<ProbeException>(() => ModelSpec.Parse(text));
        Assert.Contains(expected, e.Message);
    }

    [Fact]
    public void Same_seed_gives_identical_parameters_and_different_seed_differs()
    {
        var spec = ModelSpec.Parse("cnn:8x8:10");
        using var a = spec.Build(7);
        using var b = spec.Build(7);
        using var c = spec.Build(8);
        var pa = Weights.Export(a); var pb = Weights.Export(b); var pc = Weights.Export(c);
        Assert.Equal(pa.Count, pb.Count);
        for (int i = 0; i < pa.Count; i++) Assert.Equal(pa[i].Data, pb[i].Data);
        Assert.NotEqual(pa[0].Data, pc[0].Data);
    }
}
