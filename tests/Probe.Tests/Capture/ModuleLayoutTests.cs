using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Capture;

/// <summary>
/// A TorchSharp activation module keeps its input's layout: a ReLU after a Conv1d has a [C, L] output of C channels
/// over L positions, a ReLU after a Linear over tokens [T, D] has D units over T tokens. Values worked out by hand.
/// </summary>
public class ModuleLayoutTests
{
    // Channel 0 of x per sample: s0 [1, -2, 3, -4], s1 [-1, -1, -1, -1], s2 [0, 0, 0, 0].
    static Dataset Data() => new("x", new Matrix(3, 4, [1, -2, 3, -4, -1, -1, -1, -1, 0, 0, 0, 0]), null, [1, 4]);

    /// <summary>Conv1d(1 → 3, kernel 1): y0 = x, y1 = x - 100, y2 = -x; then ReLU.</summary>
    static nn.Module<Tensor, Tensor> Conv1dRelu()
    {
        var conv = nn.Conv1d(1, 3, 1);
        using (no_grad())
        {
            conv.weight!.copy_(tensor(new float[] { 1, 1, -1 }).reshape(3, 1, 1));
            conv.bias!.copy_(tensor(new float[] { 0, -100, 0 }));
        }
        return nn.Sequential(("conv", (nn.Module<Tensor, Tensor>)conv), ("relu", nn.ReLU()), ("flat", nn.Flatten()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(256)]
    public void AReluAfterAConv1dHasOneUnitPerChannel(int batch)
    {
        using var model = Conv1dRelu();
        var relu = new DeadUnitStudy(new LayerSelector("relu"), BatchSize: batch).Run(model, Data()).Layer("relu");
        // s0: y0 fires (1, 3), y2 fires (2, 4); s1: y2 fires; s2: nothing; y1 never.
        Assert.Equal(3, relu.Stats.Units);
        Assert.Equal(4, relu.Positions);
        Assert.Equal(new[] { 1f / 3, 0f, 2f / 3 }, relu.Stats.FiringRates);
        Assert.Equal([1], relu.Stats.DeadUnits);
        var cause = Assert.Single(relu.Causes);
        Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
        // A kernel-1 conv reads one position: the bound is the largest |x| (4), not the whole row's norm (sqrt 30).
        Assert.Equal(4, cause.MaxInputNorm, 5);
    }

    [Fact]
    public void AReluAfterAConv1dIsReducedPerChannel()
    {
        using var model = Conv1dRelu();
        using var source = new ModuleSource(model);
        var mean = new ActivationCapture(new LayerSelector("relu"), MapReduction.Mean).ToMemory(source, Data())["relu"];
        Assert.Equal(3, mean.Cols);
        Assert.Equal(new[] { 1f, 0f, 1.5f }, mean.Row(0).ToArray());
        Assert.Equal(new[] { 0f, 0f, 1f }, mean.Row(1).ToArray());
    }

    [Fact]
    public void AReluAfterALinearOverTokensHasOneUnitPerFeature()
    {
        var fc = nn.Linear(1, 2);
        using (no_grad())
        {
            fc.weight!.copy_(tensor(new float[] { 1, -1 }).reshape(2, 1));
            fc.bias!.copy_(tensor(new float[] { 0, -100 }));
        }
        using var model = nn.Sequential(("fc", (nn.Module<Tensor, Tensor>)fc), ("relu", nn.ReLU()), ("flat", nn.Flatten()));
        // The same numbers as 4 tokens of 1 feature: h0 = x fires on s0, h1 = -x - 100 never.
        var data = new Dataset("x", new Matrix(3, 4, [1, -2, 3, -4, -1, -1, -1, -1, 0, 0, 0, 0]), null, [4, 1]);
        var relu = new DeadUnitStudy(new LayerSelector("relu")).Run(model, data).Layer("relu");
        Assert.Equal(2, relu.Stats.Units);
        Assert.Equal(4, relu.Positions);
        Assert.Equal(new[] { 1f / 3, 0f }, relu.Stats.FiringRates);
        Assert.Equal([1], relu.Stats.DeadUnits);
        // The Linear reads one token (one value) at a time: the bound is the largest |x| (4), not a row's norm (sqrt 30).
        var cause = Assert.Single(relu.Causes);
        Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
        Assert.Equal(4, cause.MaxInputNorm, 9);
        Assert.Equal(-96, cause.ReachableBound, 6);
    }

    /// <summary>
    /// A folder of 3-D .npy files: [N, A, B] is a sequence unless layers.json says the layer is laid out as a map
    /// (<c>"layout": "Conv1d"</c>, as probe capture writes for an activation after a Conv1d). The ReLU output of
    /// <see cref="Conv1dRelu"/> on <see cref="Data"/>, worked out by hand.
    /// </summary>
    [Fact]
    public void AFolderLayerWithAConvLayoutHasOneUnitPerChannel()
    {
        float[] relu =
        [
            1, 0, 3, 0,   0, 0, 0, 0,   0, 2, 0, 4,
            0, 0, 0, 0,   0, 0, 0, 0,   1, 1, 1, 1,
            0, 0, 0, 0,   0, 0, 0, 0,   0, 0, 0, 0,
        ];
        var dir = Directory.CreateTempSubdirectory("probe-layout-").FullName;
        try
        {
            Npy.Write(Path.Combine(dir, "relu.npy"), new NpyArray(NpyDType.Float32, [3, 3, 4], relu));
            File.WriteAllText(Path.Combine(dir, "layers.json"),
                """{"layers": [{"name": "relu", "type": "ReLU", "layout": "Conv1d", "file": "relu.npy", "outputShape": [3, 4]}]}""");
            using var source = PrecomputedSource.Open(dir);
            var r = new DeadUnitStudy(new LayerSelector("relu")).Run(source, source.Rows).Layer("relu");
            Assert.Equal(3, r.Stats.Units);
            Assert.Equal(new[] { 1f / 3, 0f, 2f / 3 }, r.Stats.FiringRates);
            Assert.Equal([1], r.Stats.DeadUnits);
        }
        finally { Directory.Delete(dir, true); }
    }
}
