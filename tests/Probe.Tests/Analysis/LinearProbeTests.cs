using System.Text.Json;
using Probe.Analysis;
using Xunit;
using Xunit.Abstractions;

namespace Probe.Tests.Analysis;

public class LinearProbeTests(ITestOutputHelper output)
{
    private static readonly int[] Labels = TestNpy.ReadInt32("digits_labels.npy");
    private static readonly bool[] Mask = TestNpy.ReadBool("digits_probe_train_mask.npy");

    // Reference: expected.json digits_mlp.per_layer.<layer>.probe_test_accuracy_sklearn_lbfgs_C1_standardized
    // (scikit-learn 1.2.1 LogisticRegression, lbfgs, C = 1, standardized on the training mask). A different optimizer of
    // the same objective, yet the README states "equal on all 8 layers": the same number of the 597 test samples right.
    [Fact]
    public void DigitsParity_EqualOnAllEightLayers()
    {
        foreach (var layer in TestNpy.DigitsLayers)
        {
            var m = TestNpy.ReadMatrix($"digits_{layer}.npy");
            var r = new LinearProbe().Run(m, Labels, Mask);
            double expected = TestNpy.Layer(layer).GetProperty("probe_test_accuracy_sklearn_lbfgs_C1_standardized").GetDouble();
            output.WriteLine($"{layer}: {r.TestAccuracy:F4} (sklearn {expected:F4}) train {r.TrainAccuracy:F4} {r.Seconds:F2}s");
            Assert.True(Math.Round(r.TestAccuracy * 597) == Math.Round(expected * 597), $"{layer}: {r.TestAccuracy} vs {expected}");
            Assert.Equal(1200, r.TrainCount); Assert.Equal(597, r.TestCount);
            Assert.Equal(597, r.ConfusionMatrix.Sum(row => row.Sum()));
            Assert.Equal(r.TestAccuracy, r.ConfusionMatrix.Select((row, i) => row[i]).Sum() / 597.0, 12);
            Assert.True(r.LogLoss > 0 && double.IsFinite(r.LogLoss));
        }
    }

    private static string Json(ProbeResult r) => JsonSerializer.Serialize(r with { Seconds = 0 });

    [Fact]
    public void SameSeed_SameNumbers()
    {
        var m = TestNpy.ReadMatrix("digits_relu2.npy");
        foreach (var trainer in new[] { ProbeTrainer.Lbfgs, ProbeTrainer.Sdca })
        {
            var p = new LinearProbe(trainer, Seed: 3, L2Grid: [0.1, 1, 10]);
            var a = p.Run(m, Labels); var b = p.Run(m, Labels);
            Assert.Equal(Json(a), Json(b));
            Assert.Equal(3, a.ValidationAccuracies.Length);
            Assert.Contains(a.ChosenL2, new[] { 0.1, 1, 10 });
            Assert.True(a.TestAccuracy > 0.9, $"{trainer}: {a.TestAccuracy}");
            // the stratified split: 25% of each class held out
            Assert.Equal(Labels.Length, a.TrainCount + a.TestCount);
        }
    }

    [Fact]
    public void KFold_ReportsMeanAndSpread()
    {
        var m = TestNpy.ReadMatrix("digits_relu3.npy");
        var r = new LinearProbe(Folds: 3).Run(m, Labels);
        Assert.Equal(3, r.FoldTestAccuracies.Length);
        Assert.Equal(r.FoldTestAccuracies.Average(), r.TestAccuracy, 12);
        Assert.True(r.TestAccuracyStd >= 0 && r.TestAccuracyStd < 0.05);
        Assert.Equal(Labels.Length, r.TestCount);   // every sample is tested exactly once
        Assert.Equal(Labels.Length, r.ConfusionMatrix.Sum(row => row.Sum()));
    }

    [Fact]
    public void Standardizer_UsesTrainingRowsOnly()
    {
        var m = new Matrix(4, 1, [1, 3, 100, 200]);
        var (mu, sd) = LinearProbe.Standardizer(m, [0, 1]);
        Assert.Equal(2.0, mu[0]); Assert.Equal(1.0, sd[0]);
        var c = new Matrix(2, 1, [5, 5]);
        Assert.Equal(1.0, LinearProbe.Standardizer(c, [0, 1]).Std[0]);
    }

    [Fact]
    public void StratifiedSplit_IsSeededAndStratified()
    {
        var (a, b) = LinearProbe.StratifiedSplit(Enumerable.Range(0, Labels.Length).ToArray(), Labels, 10, 0.2, 7);
        var (a2, _) = LinearProbe.StratifiedSplit(Enumerable.Range(0, Labels.Length).ToArray(), Labels, 10, 0.2, 7);
        var (a3, _) = LinearProbe.StratifiedSplit(Enumerable.Range(0, Labels.Length).ToArray(), Labels, 10, 0.2, 8);
        Assert.Equal(a, a2); Assert.NotEqual(a, a3);
        Assert.Empty(a.Intersect(b));
        for (int c = 0; c < 10; c++)
        {
            int n = Labels.Count(l => l == c), h = b.Count(i => Labels[i] == c);
            Assert.Equal((int)Math.Round(n * 0.2, MidpointRounding.AwayFromZero), h);
        }
    }

    [Fact]
    public void Errors()
    {
        var m = new Matrix(4, 2, [1, 2, 3, 4, 5, 6, 7, 8]);
        Assert.Throws<ProbeException>(() => new LinearProbe().Run(m, [0, 1, 0]));
        Assert.Throws<ProbeException>(() => new LinearProbe().Run(m, [0, 0, 0, 0]));
        Assert.Throws<ProbeException>(() => new LinearProbe().Run(m, [0, 1, 0, 1], [true, true]));
        Assert.Throws<ProbeException>(() => new LinearProbe(Folds: 2).Run(m, [0, 1, 0, 1], [true, true, false, false]));
        Assert.Throws<ProbeException>(() => new LinearProbe().Run(m, [0, 1, 0, 1], [true, true, true, true]));
        var bad = new Matrix(4, 2, [1, 2, 3, float.NaN, 5, 6, 7, 8]);
        Assert.Throws<ProbeException>(() => new LinearProbe().Run(bad, [0, 1, 0, 1]));
    }

    [Fact]
    public void Plateau_WarnsOnlyWhenProbeFlatAndTrainingRises()
    {
        ProbeCheckpoint C(int e, double train, double a, double b) => new(e, train, new Dictionary<string, double> { ["a"] = a, ["b"] = b });
        var cps = new[] { C(1, 0.80, 0.50, 0.60), C(2, 0.85, 0.700, 0.70), C(3, 0.88, 0.702, 0.75), C(4, 0.90, 0.704, 0.80) };
        var w = ProbePlateau.Check(cps);
        Assert.Equal("a", Assert.Single(w).Layer);
        Assert.Equal(2, w[0].FromEpoch); Assert.Equal(4, w[0].ToEpoch);
        Assert.Equal(0.4, w[0].ProbeChangePoints, 9); Assert.Equal(5.0, w[0].TrainRisePoints, 9);
        // training accuracy flat too: no warning
        var flat = new[] { C(1, 0.90, 0.7, 0.7), C(2, 0.905, 0.7, 0.7), C(3, 0.908, 0.7, 0.7) };
        Assert.Empty(ProbePlateau.Check(flat));
        Assert.Empty(ProbePlateau.Check(cps[..2]));
    }

    // Reference: expected.json digits_mlp.per_layer.<layer>.probe_test_accuracy_sklearn_lbfgs_C1_standardized. The Torch
    // trainer minimizes the same objective as scikit-learn (C = 1), so it must land within 2 points too, and within
    // 1 point of ML.NET's L-BFGS on the same split.
    [Fact]
    public void Torch_DigitsParity_AndAgreesWithMlNet()
    {
        foreach (var layer in new[] { "input", "relu3" })
        {
            var m = TestNpy.ReadMatrix($"digits_{layer}.npy");
            var t = new LinearProbe(ProbeTrainer.Torch).Run(m, Labels, Mask);
            var l = new LinearProbe(ProbeTrainer.Lbfgs).Run(m, Labels, Mask);
            double expected = TestNpy.Layer(layer).GetProperty("probe_test_accuracy_sklearn_lbfgs_C1_standardized").GetDouble();
            output.WriteLine($"{layer}: torch {t.TestAccuracy:F4} (log loss {t.LogLoss:F4}, {t.Seconds:F2}s) ml.net {l.TestAccuracy:F4} (log loss {l.LogLoss:F4}) sklearn {expected:F4}");
            Assert.True(Math.Abs(t.TestAccuracy - expected) <= 0.02, $"{layer}: {t.TestAccuracy} vs {expected}");
            Assert.True(Math.Abs(t.TestAccuracy - l.TestAccuracy) <= 0.01, $"{layer}: torch {t.TestAccuracy} vs ML.NET {l.TestAccuracy}");
            Assert.True(Math.Abs(t.LogLoss - l.LogLoss) <= 0.05 * l.LogLoss + 0.01, $"{layer}: log loss torch {t.LogLoss} vs ML.NET {l.LogLoss}");
            Assert.Equal(597, t.ConfusionMatrix.Sum(row => row.Sum()));
        }
    }

    [Fact]
    public void Torch_SameInputs_SameNumbers()
    {
        var m = TestNpy.ReadMatrix("digits_relu2.npy");
        var p = new LinearProbe(ProbeTrainer.Torch, Seed: 1);
        Assert.Equal(Json(p.Run(m, Labels)), Json(p.Run(m, Labels)));
        Assert.Throws<ProbeException>(() => new LinearProbe(ProbeTrainer.Torch, GradientTolerance: 0).Run(m, Labels));
    }
}
