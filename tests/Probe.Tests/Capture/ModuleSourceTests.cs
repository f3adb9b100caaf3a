using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Capture;

/// <summary>
/// Reused modules (name#k), in-place modules read before they overwrite their input, and where a site's input comes
/// from (BatchNorm folded, residual adds unknown) — each checked against values worked out by hand in double precision
/// from the same weights and data, never against Probe's own capture.
/// </summary>
public class ModuleSourceTests
{
    /// <summary>h = relu(fc1 x); out = relu(fc2 h + h): one ReLU module called twice, the second time after a residual add.</summary>
    sealed class ReusedRelu : nn.Module<Tensor, Tensor>
    {
        public readonly TorchSharp.Modules.Linear fc1, fc2;
        public readonly TorchSharp.Modules.ReLU relu;

        public ReusedRelu(bool inplace) : base("ReusedRelu")
        {
            torch.manual_seed(3);
            fc1 = nn.Linear(4, 5);
            fc2 = nn.Linear(5, 5);
            relu = nn.ReLU(inplace);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            var h = relu.call(fc1.call(x));
            return relu.call(fc2.call(h) + h);
        }
    }

    static float[] Values(Tensor t) => t.detach().cpu().contiguous().data<float>().ToArray();

    static double[] Affine(float[] w, float[] b, int inF, ReadOnlySpan<float> x)
    {
        var y = new double[b.Length];
        for (int o = 0; o < b.Length; o++)
        {
            double s = b[o];
            for (int i = 0; i < inF; i++) s += (double)w[o * inF + i] * x[i];
            y[o] = s;
        }
        return y;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void AModuleCalledTwiceGivesTwoSitesWithHandComputedValuesAndPreActivations(bool inplace)
    {
        using var model = new ReusedRelu(inplace);
        var data = CaptureTests.Random(11, 4, seed: 5);
        var acts = new ActivationCapture(IncludeInputs: true, BatchSize: 4).ToMemory(model, data);
        Assert.Equal(new[] { "fc1", "relu#0", "fc2", "relu#1" }, acts.LayerNames);

        float[] w1 = Values(model.fc1.weight!), b1 = Values(model.fc1.bias!), w2 = Values(model.fc2.weight!), b2 = Values(model.fc2.bias!);
        for (int r = 0; r < data.Count; r++)
        {
            var pre1 = Affine(w1, b1, 4, data.Features.Row(r));
            var h = pre1.Select(v => (float)Math.Max(0, v)).ToArray();
            var pre2 = Affine(w2, b2, 5, h).Select((v, i) => v + h[i]).ToArray();
            for (int u = 0; u < 5; u++)
            {
                Assert.Equal(pre1[u], acts.Inputs["relu#0"][r, u], 1e-5);
                Assert.Equal(Math.Max(0, pre1[u]), acts["relu#0"][r, u], 1e-5);
                Assert.Equal(pre2[u], acts.Inputs["relu#1"][r, u], 1e-5); // read before the in-place ReLU overwrote it
                Assert.Equal(Math.Max(0, pre2[u]), acts["relu#1"][r, u], 1e-5);
            }
        }
    }

    [Fact]
    public void SelectingAReusedModuleByNameSelectsEveryCallAndOneCallByIndex()
    {
        using var model = new ReusedRelu(false);
        using var source = new ModuleSource(model, inputShape: [4]);
        Assert.Equal(new[] { "relu#0", "relu#1" }, new LayerSelector("relu").Resolve(source.Sites));
        Assert.Equal(new[] { "relu#1" }, new LayerSelector("relu#1").Resolve(source.Sites));
        Assert.Equal(new[] { "relu#0", "relu#1" }, new LayerSelector("type:relu").Resolve(source.Sites));
        var e = Assert.Throws<ProbeArgumentException>(() => new LayerSelector("relu#2").Resolve(source.Sites));
        Assert.Contains("relu#1 (ReLU)", e.Message);
    }

    [Fact]
    public void TheOriginOfAReluAfterAResidualAddIsUnknownAndAfterALinearIsThatLinear()
    {
        using var model = new ReusedRelu(true);
        using var source = new ModuleSource(model, inputShape: [4]);
        var first = Assert.IsType<SiteOrigin.Affine>(source.Origin("relu#0"));
        Assert.Equal("fc1", first.Layer);
        Assert.Equal(Values(model.fc1.bias!), first.Bias);
        var second = Assert.IsType<SiteOrigin.Unknown>(source.Origin("relu#1"));
        Assert.Contains("residual add", second.Reason);
    }

    [Fact]
    public void AChannelKilledThroughBatchNormIsExplainedWithTheFoldedBias()
    {
        torch.manual_seed(7);
        var conv = nn.Conv2d(1, 3, 3, padding: 1);
        var bn = nn.BatchNorm2d(3);
        using (torch.no_grad())
        {
            bn.running_mean!.copy_(torch.tensor(new float[] { 0.1f, -0.2f, 0.3f }));
            bn.running_var!.copy_(torch.tensor(new float[] { 0.5f, 2.0f, 1.5f }));
            bn.weight!.copy_(torch.tensor(new float[] { 1.2f, 0.8f, -0.7f }));
            bn.bias!.copy_(torch.tensor(new float[] { 0.05f, -50f, 0.1f }));
        }
        using var model = nn.Sequential(("conv", conv), ("bn", bn), ("relu", nn.ReLU(inplace: true)));
        var rng = new Random(2);
        var data = new Dataset("maps", Matrix.Create(20, 36, (_, _) => (float)rng.NextDouble()), null, [1, 6, 6]);
        var result = new DeadUnitStudy().Run(model, data);
        var layer = result.Layer("relu");
        Assert.Equal(new[] { 1 }, layer.Stats.DeadUnits);
        Assert.Equal("conv", layer.PrecedingLayer);
        Assert.Equal("bn", layer.FoldedNorm);

        // Folded bias by hand: (b - mean) * gamma / sqrt(var + eps) + beta.
        double b = Values(conv.bias!)[1];
        double folded = (b - (-0.2)) * 0.8 / Math.Sqrt(2.0 + 1e-5) + (-50);
        var cause = Assert.Single(layer.Causes);
        Assert.Equal(folded, cause.Bias, 1e-4);
        Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
        // Max pre-activation = the largest BatchNorm output of channel 1, worked out from the conv by hand.
        var w = Values(conv.weight!);
        double best = double.NegativeInfinity;
        for (int r = 0; r < 20; r++)
            for (int y = 0; y < 6; y++)
                for (int x = 0; x < 6; x++)
                {
                    double s = b;
                    for (int ky = 0; ky < 3; ky++)
                        for (int kx = 0; kx < 3; kx++)
                        {
                            int yy = y + ky - 1, xx = x + kx - 1;
                            if (yy is >= 0 and < 6 && xx is >= 0 and < 6) s += w[9 + ky * 3 + kx] * data.Features[r, yy * 6 + xx];
                        }
                    best = Math.Max(best, (s + 0.2) * 0.8 / Math.Sqrt(2.0 + 1e-5) - 50);
                }
        Assert.Equal(best, cause.MaxPreActivation, 1e-3);
    }

    [Fact]
    public void DeadUnitsAfterAResidualAddAreNotBlamedOnTheLayerBeforeTheAdd()
    {
        using var model = new ReusedRelu(true);
        using (torch.no_grad()) model.fc2.bias!.fill_(-100f); // fc2's bias kills every unit after the add
        var data = CaptureTests.Random(16, 4);
        var result = new DeadUnitStudy().Run(model, data);
        Assert.Equal(new[] { "relu#0", "relu#1" }, result.Layers.Select(l => l.Layer));
        Assert.Equal("fc1", result.Layer("relu#0").PrecedingLayer);
        var after = result.Layer("relu#1");
        Assert.Equal(5, after.Stats.DeadUnits.Length);
        Assert.Empty(after.Causes);
        Assert.Null(after.PrecedingLayer);
        Assert.Contains("residual add", after.CauseNote);
    }

    /// <summary>
    /// A ReLU's input reduced per site (the dead-unit study's pre-activation maxima): TorchSharp modules reduce in libtorch
    /// inside the hook, every other source through the default (full inputs reduced after each batch); both must equal
    /// the channel maxima worked out here from the full input map.
    /// </summary>
    [Fact]
    public void PerSiteInputMaximaEqualTheFullMapsMaxima()
    {
        var rng = new Random(4);
        var data = new Dataset("maps", Matrix.Create(37, 64, (_, _) => (float)(rng.NextDouble() * 2 - 1)), null, [1, 8, 8]);
        using var model = Probe.Models.ModelSpec.Parse("cnn:1x8x8:10:4-6-16:relu").Build(1);
        using var source = new ModuleSource(model);
        source.Bind(data);
        string[] sites = ["relu1", "relu2", "relu3"];
        var maxima = sites.ToDictionary(s => s, _ => MapReduction.Max);
        // One run at a time: each registers its own hooks on the model.
        (Dictionary<string, Matrix> Inputs, Dictionary<string, Matrix> Outputs, IReadOnlyList<LayerInfo> Layers) Once(Func<IActivationRun> start)
        {
            using var run = start();
            run.Forward(data.Features.Data, data.Count, data.SampleShape, 0);
            static Dictionary<string, Matrix> Copy(IReadOnlyDictionary<string, Matrix> d) =>
                d.ToDictionary(kv => kv.Key, kv => new Matrix(kv.Value.Rows, kv.Value.Cols, kv.Value.Data[..(kv.Value.Rows * kv.Value.Cols)]));
            return (Copy(run.Inputs), Copy(run.Outputs), run.Layers);
        }
        var full = Once(() => source.Start(sites, MapReduction.Flatten, includeInputs: true));
        var perSite = new SiteReductions(new Dictionary<string, MapReduction> { ["relu2"] = MapReduction.Max }, maxima);
        var native = Once(() => source.Start(sites, MapReduction.Flatten, includeInputs: true, perSite));
        var fallback = Once(() => new ReducingRun(source.Start(sites, MapReduction.Flatten, includeInputs: true), perSite));
        foreach (var site in sites)
        {
            var whole = full.Inputs[site];
            var info = full.Layers.Single(l => l.Name == site);
            int units = info.OutputShape.Length <= 1 ? whole.Cols : info.OutputShape[0];
            int positions = whole.Cols / units;
            var expected = new float[data.Count * units];
            for (int r = 0; r < data.Count; r++)
                for (int u = 0; u < units; u++)
                    expected[r * units + u] = Enumerable.Range(0, positions).Max(q => whole[r, u * positions + q]);
            Assert.Equal(expected, native.Inputs[site].Data.Take(expected.Length));
            Assert.Equal(expected, fallback.Inputs[site].Data.Take(expected.Length));
            Assert.Equal(units, native.Inputs[site].Cols);
            Assert.Equal(units, fallback.Inputs[site].Cols);
            // Outputs: relu2's reduced to the same channel maxima (its output equals max(input, 0) channel-wise), the
            // others untouched.
            if (site == "relu2")
            {
                var expectedOut = expected.Select(v => Math.Max(v, 0f)).ToArray();
                Assert.Equal(expectedOut, native.Outputs[site].Data.Take(expected.Length));
                Assert.Equal(expectedOut, fallback.Outputs[site].Data.Take(expected.Length));
                Assert.Equal(units, native.Layers.Single(l => l.Name == site).Features);
                Assert.Equal(units, fallback.Layers.Single(l => l.Name == site).Features);
            }
            else Assert.Equal(full.Outputs[site].Data, native.Outputs[site].Data);
        }
    }

    /// <summary>fc(x) then ReLU, counting its forward passes (every trace and every batch is one).</summary>
    sealed class CountingNet : nn.Module<Tensor, Tensor>
    {
        public readonly TorchSharp.Modules.Linear fc;
        public readonly TorchSharp.Modules.ReLU relu;
        public int Passes;

        public CountingNet() : base("CountingNet")
        {
            torch.manual_seed(5);
            fc = nn.Linear(3, 4);
            relu = nn.ReLU();
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            Passes++;
            return relu.call(fc.call(x));
        }
    }

    [Fact]
    public void ADataSetThatStartsWithTheTracedSampleIsNotTracedAgainAndAStudyRunsOnePassPerBatch()
    {
        var rng = new Random(4);
        var data = new Dataset("rows", Matrix.Create(10, 3, (_, _) => (float)(rng.NextDouble() * 2 - 1)), null, [3]);
        using var model = new CountingNet();
        using var source = new ModuleSource(model);
        source.Bind(data);
        Assert.Equal(1, model.Passes);
        source.Bind(data.Subset([0, 3]));                 // the same first sample: the same trace
        source.Bind(data.Subset([0, 1, 2]));
        Assert.Equal(1, model.Passes);
        source.Bind(data.Subset([1, 0]));                 // another first sample: traced on it
        Assert.Equal(2, model.Passes);

        // The study learns its sites' shapes from the trace, not from a pass of its own: one trace, then 10 rows in
        // batches of 4 (3 passes).
        model.Passes = 0;
        var result = new DeadUnitStudy(BatchSize: 4).Run(model, data);
        Assert.Equal(4, model.Passes);
        Assert.Equal(["relu"], result.Layers.Select(l => l.Layer));
        Assert.Equal([4], result.Layers[0].OutputShape);
    }
}
