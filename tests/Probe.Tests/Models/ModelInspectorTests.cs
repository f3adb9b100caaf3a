using Probe.Models;
using Xunit;

namespace Probe.Tests.Models;

public class ModelInspectorTests
{
    [Fact]
    public void Describes_the_mlp_with_parameter_counts_and_shapes()
    {
        var spec = ModelSpec.Parse("mlp:64-128-64-32-10:relu");
        using var m = spec.Build(0);
        var d = ModelInspector.Describe(m, spec.InputShape);
        Assert.Equal(["", "fc1", "relu1", "fc2", "relu2", "fc3", "relu3", "fc4"], d.Select(x => x.Name));
        // 64*128+128 + 128*64+64 + 64*32+32 + 32*10+10
        Assert.Equal(8320 + 8256 + 2080 + 330, d[0].Parameters);
        Assert.False(d[0].IsLeaf);
        Assert.Equal([10], d[0].OutputShape!);
        Assert.Equal(8320, d[1].Parameters);
        Assert.Equal("Linear", d[1].TypeName);
        Assert.Equal("ReLU", d[2].TypeName);
        Assert.Equal(0, d[2].Parameters);
        Assert.Equal([[10], [128], [128], [64], [64], [32], [32], [10]], d.Select(x => x.OutputShape!));
        Assert.All(d.Skip(1), x => Assert.True(x.IsLeaf));
        // Image-shaped input is flattened by the model.
        Assert.Equal([128], ModelInspector.Describe(m, [1, 8, 8])[1].OutputShape!);
    }

    [Fact]
    public void Describes_the_cnn_and_removes_its_hooks()
    {
        var spec = ModelSpec.Parse("cnn:28x28:10");
        using var m = spec.Build(0);
        m.train();
        var d = ModelInspector.Describe(m, spec.InputShape);
        Assert.True(m.training);
        var byName = d.ToDictionary(x => x.Name);
        Assert.Equal([8, 28, 28], byName["conv1"].OutputShape!);
        Assert.Equal([8, 14, 14], byName["pool1"].OutputShape!);
        Assert.Equal([16, 7, 7], byName["pool2"].OutputShape!);
        Assert.Equal([64], byName["fc1"].OutputShape!);
        Assert.Equal([10], byName["fc2"].OutputShape!);
        Assert.Equal(1 * 8 * 9 + 8, byName["conv1"].Parameters);
        Assert.Equal(16 * 7 * 7 * 64 + 64, byName["fc1"].Parameters);
        Assert.Equal("Conv2d", byName["conv1"].TypeName);
        Assert.Equal("MaxPool2d", byName["pool1"].TypeName);
        // Describing again gives the same result (hooks from the first call are gone, not doubled).
        Assert.Equal(d.Select(x => string.Join(",", x.OutputShape!)), ModelInspector.Describe(m, spec.InputShape).Select(x => string.Join(",", x.OutputShape!)));
        Assert.Throws<ProbeException>(() => ModelInspector.Describe(m, [1, 9, 9]));
    }
}
