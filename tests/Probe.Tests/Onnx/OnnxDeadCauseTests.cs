using System.Text.Json;
using Probe.Analysis;
using Probe.Data;
using Probe.Onnx;
using Probe.Reporting.Sections;
using Xunit;

namespace Probe.Tests.Onnx;

/// <summary>
/// Dead units of fixtures/dead/bn_relu6.onnx (Linear, BatchNorm1d, ReLU, Linear, ReLU6 exported as Clip(0, 6)) against
/// PyTorch's hooks and NumPy's BatchNorm folding (fixtures/dead/make_dead.py).
/// </summary>
public class OnnxDeadCauseTests
{
    static readonly JsonElement Reference = JsonDocument.Parse(File.ReadAllText(ReferenceFixtures.Path("dead", "dead.json"))).RootElement;

    static DeadUnitStudyResult Study()
    {
        using var source = new OnnxActivationSource(ReferenceFixtures.Path("dead", "bn_relu6.onnx"));
        return new DeadUnitStudy().Run(source, DataSource.Parse("npy:" + ReferenceFixtures.Path("dead", "x.npy")).Open());
    }

    static void AssertCauses(DeadLayerResult layer, JsonElement expected)
    {
        Assert.Equal(expected.GetProperty("dead").EnumerateArray().Select(e => e.GetInt32()), layer.Stats.DeadUnits);
        var causes = expected.GetProperty("causes").EnumerateArray().ToArray();
        Assert.Equal(causes.Length, layer.Causes.Length);
        foreach (var (c, e) in layer.Causes.Zip(causes))
        {
            Assert.Equal(e.GetProperty("unit").GetInt32(), c.Unit);
            Assert.Equal(e.GetProperty("reason").GetString(), c.Reason.ToString());
            Assert.Equal(e.GetProperty("bias").GetDouble(), c.Bias, 1e-4 * Math.Max(1, Math.Abs(c.Bias)));
            Assert.Equal(e.GetProperty("weightNorm").GetDouble(), c.WeightNorm, 1e-4 * Math.Max(1, c.WeightNorm));
            Assert.Equal(e.GetProperty("maxPreActivation").GetDouble(), c.MaxPreActivation, 1e-4 * Math.Max(1, Math.Abs(c.MaxPreActivation)));
            Assert.Equal(e.GetProperty("reachableBound").GetDouble(), c.ReachableBound, 1e-3 * Math.Max(1, Math.Abs(c.ReachableBound)));
            Assert.Equal(expected.GetProperty("maxInputNorm").GetDouble(), c.MaxInputNorm, 1e-4 * c.MaxInputNorm);
        }
    }

    /// <summary>
    /// PyTorch exports nn.ReLU6 as Clip(x, 0, 6): the default selection took only the ReLU, so the ReLU6's two dead
    /// units were never reported. Now the Clip is judged as the ReLU6 it is, with PyTorch's dead units and NumPy's causes.
    /// </summary>
    [Fact]
    public void AReLU6ExportedAsClipIsStudiedByDefault()
    {
        var r = Study();
        Assert.Equal(["relu1", "act"], r.Layers.Select(l => l.Layer));
        var act = r.Layer("act");
        Assert.Equal(UnitActivation.Rectified, act.Stats.Activation);
        Assert.Equal("fc2", act.PrecedingLayer);
        AssertCauses(act, Reference.GetProperty("act"));
    }

    /// <summary>
    /// A dead unit behind a BatchNorm is explained by the affine map with the BatchNorm folded in, but nothing said so:
    /// unit 1, whose BatchNorm scale is 0, read "incoming weights are zero" though fc1's own weights for it are not
    /// (PyTorch: norm > 0), and the biases quoted were not fc1's. Each explanation now names the folded BatchNorm, and
    /// the JSON carries foldedNorm.
    /// </summary>
    [Fact]
    public void CausesReadThroughABatchNormNameIt()
    {
        var relu1 = Study().Layer("relu1");
        AssertCauses(relu1, Reference.GetProperty("relu1"));
        Assert.True(Reference.GetProperty("fc1_weight_norms")[1].GetDouble() > 0.1);
        Assert.Equal("bn1", relu1.FoldedNorm);
        Assert.All(relu1.Causes, c => Assert.Contains("BatchNorm 'bn1' folded in", c.Explanation));
        Assert.Contains("gamma", relu1.Causes.Single(c => c.Reason == DeadUnitReason.ZeroIncomingWeights).Explanation);

        var json = JsonSerializer.SerializeToElement(DeadUnitFigures.Json(new DeadUnitStudyResult(1, 0.01, "", [relu1])));
        Assert.Equal("bn1", json.GetProperty("layers")[0].GetProperty("foldedNorm").GetString());
    }
}
