using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Analysis;

/// <summary>
/// A conv unit's pre-activation is bounded by its weight norm times the largest norm of a window it reads, not of its
/// whole input. The window norm against libtorch's unfold (every placement: stride 1, padding (k - 1)·d) and values
/// worked out by hand; the study's causes with it.
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class ConvWindowTests
{
    // libtorch's own patches: unfold with padding (k - 1)·d and stride 1 gives every placement that touches the input.
    static double UnfoldMax(float[] x, int n, int c, int h, int w, int kh, int kw, int dh, int dw)
    {
        using var scope = NewDisposeScope();
        var t = tensor(x, [n, c, h, w], ScalarType.Float64);
        var cols = nn.functional.unfold(t, (kh, kw), dilation: (dh, dw), padding: ((kh - 1) * dh, (kw - 1) * dw), stride: (1, 1));
        return cols.pow(2).sum(1).max().item<double>();
    }

    [Theory]
    [InlineData(2, 5, 4, 3, 2, 2, 1)]
    [InlineData(3, 6, 6, 3, 3, 1, 1)]
    [InlineData(1, 7, 3, 2, 3, 3, 2)]
    [InlineData(4, 1, 9, 1, 4, 1, 2)]   // a Conv1d's window, as [C, 1, L]
    public void TheLargestWindowNormIsLibtorchsLargestPatchNorm(int channels, int h, int w, int kh, int kw, int dh, int dw)
    {
        var rng = new Random(channels * 100 + h * 10 + w);
        int n = 3, cols = channels * h * w;
        var x = Enumerable.Range(0, n * cols).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
        var window = new ConvWindow([channels, h, w], [kh, kw], [dh, dw]);
        Assert.Equal(UnfoldMax(x, n, channels, h, w, kh, kw, dh, dw), DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, n, window), 9);
        // Rows 1..2 only.
        Assert.Equal(UnfoldMax(x[cols..], n - 1, channels, h, w, kh, kw, dh, dw), DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 1, n, window), 9);
        // As a Conv1d over the flattened positions when h is 1.
        if (h == 1)
            Assert.Equal(UnfoldMax(x, n, channels, h, w, kh, kw, dh, dw), DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, n, new ConvWindow([channels, w], [kw], [dw])), 9);
    }

    // Every placement's window sum of squares as libtorch's convolution of the squared input with a kernel of ones over
    // all channels (padding (k - 1)·d, stride 1): any number of spatial axes (conv1d, conv2d, conv3d).
    static double ConvOnesMax(float[] x, int n, int[] shape, int[] kernel, int[] dilation)
    {
        using var scope = NewDisposeScope();
        var t = tensor(x, [n, .. shape.Select(d => (long)d)], ScalarType.Float64).pow(2);
        var ones = torch.ones([1, shape[0], .. kernel.Select(k => (long)k)], ScalarType.Float64);
        long[] pad = kernel.Select((k, a) => (long)(k - 1) * dilation[a]).ToArray(), dil = dilation.Select(d => (long)d).ToArray();
        var sums = kernel.Length switch
        {
            1 => nn.functional.conv1d(t, ones, padding: pad[0], dilation: dil[0]),
            2 => nn.functional.conv2d(t, ones, padding: pad, dilation: dil),
            _ => nn.functional.conv3d(t, ones, padding: pad, dilation: dil),
        };
        return sums.max().item<double>();
    }

    [Fact]
    public void RandomWindowsInOneTwoAndThreeAxesMatchLibtorchsConvolutionOfSquares()
    {
        var rng = new Random(14);
        for (int trial = 0; trial < 60; trial++)
        {
            int axes = 1 + trial % 3, n = rng.Next(1, 4);
            var shape = new[] { rng.Next(1, 5) }.Concat(Enumerable.Range(0, axes).Select(_ => rng.Next(1, axes == 3 ? 7 : 31))).ToArray();
            var kernel = Enumerable.Range(0, axes).Select(_ => rng.Next(1, 6)).ToArray();
            var dilation = Enumerable.Range(0, axes).Select(_ => rng.Next(1, 4)).ToArray();
            int cols = shape.Aggregate(1, (a, d) => a * d);
            var x = Enumerable.Range(0, n * cols).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            var expected = ConvOnesMax(x, n, shape, kernel, dilation);
            var actual = DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, n, new ConvWindow(shape, kernel, dilation));
            Assert.True(Math.Abs(expected - actual) <= 1e-9 * expected,
                $"input [{string.Join(", ", shape)}], kernel [{string.Join(", ", kernel)}], dilation [{string.Join(", ", dilation)}]: libtorch {expected}, Probe {actual}");
        }
    }

    [Fact]
    public void AnInfinityAnywhereGivesNaN()
    {
        var x = Enumerable.Range(0, 2 * 3 * 28 * 28).Select(i => (float)(i % 7)).ToArray();
        x[^5] = float.PositiveInfinity;
        Assert.True(double.IsNaN(DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, 2, new ConvWindow([3, 28, 28], [3, 3], [1, 1]))));
        Assert.True(double.IsFinite(DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, 1, new ConvWindow([3, 28, 28], [3, 3], [1, 1]))));
    }

    [Fact]
    public void A3dWindowWorkedByHand()
    {
        // One sample of 2 channels of 2x2x2: values 1..16. A 2x2x2 window placed at the start covers everything
        // (sum of squares 1..16 = 1496); a 1x1x1 window reads one position of both channels: 8^2 + 16^2 = 320.
        var x = Enumerable.Range(1, 16).Select(v => (float)v).ToArray();
        Assert.Equal(1496, DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, 1, new ConvWindow([2, 2, 2, 2], [2, 2, 2], [1, 1, 1])), 9);
        Assert.Equal(320, DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, 1, new ConvWindow([2, 2, 2, 2], [1, 1, 1], [1, 1, 1])), 9);
        // Dilation 2 on an axis of 2: the window's two taps never both land inside, so each placement reads one plane.
        Assert.Equal(5 * 5 + 6 * 6 + 7 * 7 + 8 * 8 + 13 * 13 + 14 * 14 + 15 * 15 + 16 * 16,
            DeadUnitDiagnosis.MaxWindowSquaredNorm(x, 0, 1, new ConvWindow([2, 2, 2, 2], [2, 2, 2], [2, 1, 1])), 9);
        Assert.True(double.IsNaN(DeadUnitDiagnosis.MaxWindowSquaredNorm([float.NaN, 1, 1, 1], 0, 1, new ConvWindow([1, 4], [2], [1]))));
    }

    static nn.Module<Tensor, Tensor> ConvRelu(PaddingModes mode = PaddingModes.Zeros, bool transposed = false)
    {
        nn.Module<Tensor, Tensor> conv = transposed ? nn.ConvTranspose2d(1, 1, 1) : nn.Conv2d(1, 1, 1, padding: mode == PaddingModes.Zeros ? 0 : 1, padding_mode: mode);
        using (no_grad())
        {
            var ps = conv.parameters().ToList();
            ps[0].copy_(ones(ps[0].shape));
            ps[1].copy_(tensor(new float[] { -2 }));
        }
        return nn.Sequential(("conv", conv), ("relu", nn.ReLU()), ("flat", nn.Flatten()));
    }

    [Fact]
    public void AConvUnitWhoseBiasOutweighsEveryWindowIsBiasCaused()
    {
        // 1x4x4 of ones through a 1x1 conv (weight 1, bias -2): every pre-activation is -1, so the unit is dead. A window
        // is one value (norm 1): -2 + 1 x 1 < 0, the bias alone. The whole input's norm (4) would have allowed 2 > 0.
        var data = new Dataset("ones", new Matrix(2, 16, Enumerable.Repeat(1f, 32).ToArray()), null, [1, 4, 4]);
        using var model = ConvRelu();
        var relu = new DeadUnitStudy(new LayerSelector("relu")).Run(model, data).Layer("relu");
        var cause = Assert.Single(relu.Causes);
        Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
        Assert.Equal(1, cause.MaxInputNorm, 9);
        Assert.Equal(-1, cause.ReachableBound, 6);
        Assert.Equal(-1, cause.MaxPreActivation, 6);
    }

    [Fact]
    public void ConvsWhoseWindowsRepeatValuesOrWhoseWeightsAreTransposedAreNotExplained()
    {
        var data = new Dataset("ones", new Matrix(2, 16, Enumerable.Repeat(1f, 32).ToArray()), null, [1, 4, 4]);
        foreach (var (model, words) in new[] { (ConvRelu(PaddingModes.Reflect), "padding mode Reflect"), (ConvRelu(transposed: true), "transposed convolution") })
            using (model)
            {
                var relu = new DeadUnitStudy(new LayerSelector("relu")).Run(model, data).Layer("relu");
                Assert.Equal([0], relu.Stats.DeadUnits);
                Assert.Empty(relu.Causes);
                Assert.Contains(words, relu.CauseNote);
            }
    }

    [Fact]
    public void ABatchNormOverTheTokensOfALinearIsNotFoldedIntoItsUnits()
    {
        // Linear(2 -> 2) over 2 tokens, then BatchNorm1d(2) on [N, 2, 2]: it normalises the token axis, not the Linear's
        // units, although both have 2 entries; folding it into the units' weights would explain them wrongly.
        var fc = nn.Linear(2, 2);
        var bn = nn.BatchNorm1d(2);
        using (no_grad())
        {
            fc.weight!.copy_(eye(2));
            fc.bias!.copy_(tensor(new float[] { 0, -100 }));
            bn.running_mean!.copy_(tensor(new float[] { 0, 50 }));
        }
        using var model = nn.Sequential(("fc", (nn.Module<Tensor, Tensor>)fc), ("bn", bn), ("relu", nn.ReLU()), ("flat", nn.Flatten()));
        var data = new Dataset("tokens", new Matrix(2, 4, [1, 2, 3, 4, -1, 0, 2, 1]), null, [2, 2]);
        var relu = new DeadUnitStudy(new LayerSelector("relu")).Run(model, data).Layer("relu");
        Assert.Empty(relu.Causes);
        Assert.Contains("'bn' normalises the first axis of 'fc'", relu.CauseNote);
    }
}
