using Probe.Capture;
using Probe.Data;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Probe.Tests.Capture;

public class CaptureTests
{
    internal static nn.Module<Tensor, Tensor> Mlp(int seed = 1, bool inplace = false)
    {
        torch.manual_seed(seed);
        return nn.Sequential(
            ("fc1", nn.Linear(6, 8)), ("relu1", nn.ReLU(inplace)),
            ("fc2", nn.Linear(8, 5)), ("relu2", nn.ReLU(inplace)),
            ("fc3", nn.Linear(5, 3)));
    }

    internal static Dataset Random(int n, int d, int seed = 0)
    {
        var rng = new Random(seed);
        var m = Matrix.Create(n, d, (_, _) => (float)(rng.NextDouble() * 2 - 1));
        return new Dataset("random", m, Enumerable.Range(0, n).Select(i => i % 3).ToArray(), new[] { d });
    }

    static float[] Forward(nn.Module<Tensor, Tensor> m, float[] x, long[] shape)
    {
        using var _ = torch.no_grad();
        return m.call(torch.tensor(x, shape)).data<float>().ToArray();
    }

    /// <summary>A layer that cannot take its input is named with the shape it got and the one it expects.</summary>
    [Fact]
    public void AFailingLayerIsNamedWithItsInputShapeAndWhatItExpects()
    {
        var model = Mlp();
        using var source = new ModuleSource(model);
        source.Bind(Random(10, 6));
        var wrong = Random(10, 7);
        using var run = source.Start(["relu1"], MapReduction.Mean, includeInputs: false);
        var e = Assert.Throws<ProbeException>(() => run.Forward(wrong.Features.Data, 10, wrong.SampleShape, 0));
        Assert.Contains("Layer 'fc1' (Linear) failed on input of shape [10, 7] but expects [*, 6] (in_features 6)", e.Message);
        Assert.Contains("the data's batch shape is [10, 7]", e.Message);
    }

    [Fact]
    public void CapturesEveryLeafInFiringOrderWithExactValues()
    {
        var model = Mlp();
        var data = Random(37, 6);
        var acts = new ActivationCapture(BatchSize: 64).ToMemory(model, data);
        var batched = new ActivationCapture(BatchSize: 10).ToMemory(model, data);
        Assert.Equal(new[] { "fc1", "relu1", "fc2", "relu2", "fc3" }, acts.LayerNames);
        Assert.Equal(new[] { 8, 8, 5, 5, 3 }, acts.Summary.Layers.Select(l => l.Features));
        Assert.Equal("Linear", acts.Summary.Layers[0].ModuleType);
        Assert.Equal("ReLU", acts.Summary.Layers[1].ModuleType);

        // The same values as running the layers one by one on the whole data set.
        var seq = (TorchSharp.Modules.Sequential)model;
        var children = seq.named_children().ToList();
        float[] cur = data.Features.Data;
        long[] shape = { 37, 6 };
        foreach (var (name, child) in children)
        {
            cur = Forward((nn.Module<Tensor, Tensor>)child, cur, shape);
            shape = new long[] { 37, cur.Length / 37 };
            var got = acts[name].Data;
            Assert.Equal(cur.Length, got.Length);
            // Matrix products may round differently with batch size and memory alignment (last-bit), nothing more.
            for (int i = 0; i < cur.Length; i++) Assert.Equal(cur[i], got[i], 1e-6f);
            for (int i = 0; i < cur.Length; i++) Assert.Equal(cur[i], batched[name].Data[i], 1e-5f);
        }
        Assert.All(acts.Summary.NonFiniteOutputs.Values, v => Assert.Equal(0, v));
        Assert.Equal(data.Labels, acts.Labels);
    }

    [Fact]
    public void CopiesInsideTheHookSoInPlaceOpsCannotChangeTheRecord()
    {
        var model = Mlp(inplace: true);
        var data = Random(20, 6);
        var acts = new ActivationCapture(Layers: new LayerSelector("fc1,relu1")).ToMemory(model, data);
        Assert.Contains(acts["fc1"].Data, v => v < 0); // the pre-activation keeps its negative values
        Assert.DoesNotContain(acts["relu1"].Data, v => v < 0);
    }

    [Fact]
    public void RecordsInputsOnRequest()
    {
        var model = Mlp();
        var acts = new ActivationCapture(Layers: new LayerSelector("relu1"), IncludeInputs: true).ToMemory(model, Random(15, 6));
        var pre = acts.Inputs["relu1"].Data;
        var post = acts["relu1"].Data;
        for (int i = 0; i < pre.Length; i++) Assert.Equal(Math.Max(pre[i], 0f), post[i]);
    }

    [Fact]
    public void SelectsByNameGlobAndType()
    {
        var model = Mlp();
        Assert.Equal(new[] { "relu1", "relu2" }, new LayerSelector("*relu*").Resolve(model).Select(s => s.Name));
        Assert.Equal(new[] { "fc1", "fc2", "fc3" }, new LayerSelector("type:Linear").Resolve(model).Select(s => s.Name));
        Assert.Equal(new[] { "fc1", "relu2" }, new LayerSelector("relu2, fc1").Resolve(model).Select(s => s.Name));
    }

    [Fact]
    public void UnknownNamesListTheRealOnes()
    {
        var model = Mlp();
        var e = Assert.Throws<ProbeArgumentException>(() => new LayerSelector("fc9").Resolve(model));
        Assert.Contains("fc9", e.Message);
        Assert.Contains("fc1 (Linear)", e.Message);
        Assert.Contains("relu2 (ReLU)", e.Message);
        Assert.Contains("relu1", Assert.Throws<ProbeArgumentException>(() => new LayerSelector("conv*").Resolve(model)).Message);
        Assert.Contains("Linear", Assert.Throws<ProbeArgumentException>(() => new LayerSelector("type:Conv2d").Resolve(model)).Message);
    }

    sealed class Bypassing : nn.Module<Tensor, Tensor>
    {
        readonly nn.Module<Tensor, Tensor> fc, act;
        public Bypassing() : base("Bypassing")
        {
            fc = nn.Linear(6, 4);
            act = nn.ReLU();
            RegisterComponents();
        }
        public override Tensor forward(Tensor x) => act.call(fc.forward(x)); // fc.forward skips fc's hooks
    }

    [Fact]
    public void AHookThatNeverFiredNamesTheForwardCallAsTheLikelyCause()
    {
        using var model = new Bypassing();
        var e = Assert.Throws<ProbeException>(() => new ActivationCapture().ToMemory(model, Random(5, 6)));
        Assert.Contains("'fc' (Linear) never fired", e.Message);
        Assert.Contains("fc.forward(x)", e.Message);
        Assert.Contains("fc.call(x)", e.Message);
        // Selecting only the module that does fire works.
        var ok = new ActivationCapture(Layers: new LayerSelector("act")).ToMemory(model, Random(5, 6));
        Assert.Equal(4, ok["act"].Cols);
    }

    /// <summary>fc1, then fc2 only when the gate lets it (a forward pass whose layers depend on its input).</summary>
    sealed class Gated : nn.Module<Tensor, Tensor>
    {
        readonly nn.Module<Tensor, Tensor> fc1, fc2;
        readonly Func<Tensor, int> _calls;
        public Gated(Func<Tensor, int> callsOfFc2) : base("gated")
        {
            torch.manual_seed(2);
            fc1 = nn.Linear(6, 4);
            fc2 = nn.Linear(4, 4);
            _calls = callsOfFc2;
            RegisterComponents();
        }
        public override Tensor forward(Tensor x)
        {
            var h = fc1.call(x);
            for (int k = _calls(x); k > 0; k--) h = fc2.call(h);
            return h;
        }
    }

    /// <summary>
    /// A layer that stops running on a later batch is an error naming it and the batch's samples, in a capture into
    /// memory (whose rows of that batch would be left unwritten) and a streaming one (whose buffer would still hold the
    /// batch before); so is one that skips the first batch after running when traced, or one that runs more often.
    /// </summary>
    [Fact]
    public void ALayerThatDoesNotRunOnEveryBatchIsAnErrorNamingItAndTheSamples()
    {
        var data = Random(20, 6);
        data.Features.Data[0] = 1;       // batches of 8: fc2 runs when the batch's first value is positive
        data.Features.Data[8 * 6] = -1;  // ... so not on samples 8..15
        using var byValue = new Gated(x => x[0, 0].item<float>() > 0 ? 1 : 0);
        var capture = new ActivationCapture(BatchSize: 8);
        foreach (var run in new Action[] { () => capture.ToMemory(byValue, data), () => capture.Run(byValue, data, new Ignore()) })
        {
            var e = Assert.Throws<ProbeException>(run);
            Assert.Contains("'fc2' (Linear) did not run on samples 8..15 although it ran on the batches before", e.Message);
            Assert.DoesNotContain("'fc1'", e.Message);
        }
        // Traced with one sample (fc2 runs), then batches of 8 (it does not).
        using var bySize = new Gated(x => x.shape[0] == 1 ? 1 : 0);
        var first = Assert.Throws<ProbeException>(() => capture.ToMemory(bySize, data));
        Assert.Contains("'fc2' (Linear) did not run on this batch although it ran when the model was traced", first.Message);
        using var twice = new Gated(x => x.shape[0] == 1 ? 1 : 2);
        var more = Assert.Throws<ProbeException>(() => capture.ToMemory(twice, data));
        Assert.Contains("'fc2' (Linear) ran 2 times in one forward pass but 1 time(s) when the model was traced", more.Message);
        // Layers that run on every batch are captured.
        Assert.Equal(20, (capture with { Layers = new LayerSelector("fc1") }).ToMemory(byValue, data)["fc1"].Rows);
    }

    /// <summary>
    /// A selected layer's input whose first axis is not the batch (here tokens of several samples flattened together)
    /// is an error naming the layer and the shape, not rows that belong to no sample; its output, batch-first, is
    /// recorded exactly (it equals the data).
    /// </summary>
    [Fact]
    public void ALayerInputWhoseFirstAxisIsNotTheBatchIsAnError()
    {
        // [N, 4, 3] -> flat [4N, 3] -> unflat [N, 4, 3].
        using var model = nn.Sequential(("flat", nn.Flatten(0, 1)), ("unflat", nn.Unflatten(0, [-1, 4])));
        var data = new Dataset("seq", new Matrix(6, 12, Enumerable.Range(0, 72).Select(v => (float)v).ToArray()), null, [4, 3]);
        var withInputs = new ActivationCapture(new LayerSelector("unflat"), MapReduction.Flatten, IncludeInputs: true, BatchSize: 3);
        foreach (var run in new Action[] { () => withInputs.ToMemory(model, data), () => withInputs.Run(model, data, new Ignore()) })
        {
            var e = Assert.Throws<ProbeException>(run);
            Assert.Contains("Layer 'unflat' (Unflatten) received an input of shape [12, 3]", e.Message);
            Assert.Contains("expects the batch (3 samples) as its first dimension", e.Message);
        }
        var outputs = (withInputs with { IncludeInputs = false }).ToMemory(model, data)["unflat"];
        Assert.Equal(data.Features.Data, outputs.Data);
    }

    [Fact]
    public void AnInputShapeThatDoesNotFitNamesTheLayerAndBothShapes()
    {
        var model = Mlp();
        var e = Assert.Throws<ProbeException>(() => new ActivationCapture().ToMemory(model, Random(9, 7)));
        Assert.Contains("'fc1' (Linear)", e.Message);
        Assert.Contains("[1, 7]", e.Message); // the sites are traced with the first sample
        Assert.Contains("in_features 6", e.Message);
    }

    [Fact]
    public void HooksAreRemovedAfterAFailureAndAModelCanBeCapturedAgain()
    {
        var model = Mlp();
        Assert.Throws<ProbeException>(() => new ActivationCapture().ToMemory(model, Random(9, 7)));
        Assert.Equal(0, HookCount(model));
        var a = new ActivationCapture().ToMemory(model, Random(9, 6));
        var b = new ActivationCapture().ToMemory(model, Random(9, 6));
        Assert.Equal(a["fc3"].Data, b["fc3"].Data);
        Assert.Equal(0, HookCount(model));
    }

    static int HookCount(nn.Module model)
    {
        int total = 0;
        foreach (var (_, m) in model.named_modules())
            for (var t = m.GetType(); t != null; t = t.BaseType)
                foreach (var f in t.GetFields(System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.DeclaredOnly))
                    if (f.Name.Contains("hook", StringComparison.OrdinalIgnoreCase) && f.GetValue(m) is System.Collections.ICollection c)
                        total += c.Count;
        return total;
    }

    [Fact]
    public void CountsNonFiniteActivationsPerLayer()
    {
        var model = Mlp();
        using (torch.no_grad()) ((TorchSharp.Modules.Linear)((TorchSharp.Modules.Sequential)model).named_children().First().module).weight![0, 0] = float.NaN;
        var acts = new ActivationCapture().ToMemory(model, Random(10, 6));
        Assert.Equal(10, acts.Summary.NonFiniteOutputs["fc1"]);
        Assert.True(acts.Summary.NonFiniteOutputs["fc3"] > 0);
        Assert.Throws<ProbeException>(() => acts["fc1"].EnsureFinite("fc1"));
    }

    /// <summary>
    /// A site of 300 x 256 values is copied out in two halves on libtorch's threads: the rows equal the layer's output
    /// computed directly, and a NaN input in the second half gives its row's 256 non-finite values.
    /// </summary>
    [Fact]
    public void LargeSitesAreCopiedExactlyAndTheirNonFiniteValuesCounted()
    {
        torch.manual_seed(1);
        using var model = nn.Sequential(("fc1", nn.Linear(6, 256)), ("relu1", nn.ReLU()));
        var data = Random(300, 6);
        data.Features.Data[250 * 6 + 2] = float.NaN;
        var acts = new ActivationCapture(BatchSize: 300).ToMemory(model, data);
        Assert.True(300 * 256 >= ModuleRun.CopyHalvesThreshold);
        Assert.Equal(256, acts.Summary.NonFiniteOutputs["fc1"]);
        using (torch.no_grad())
        {
            var fc1 = (TorchSharp.Modules.Linear)model.named_children().First().module;
            using var y = fc1.forward(torch.tensor(data.Features.Data, [300, 6]));
            Assert.Equal(y.data<float>().ToArray(), acts["fc1"].Data);
        }
    }

    sealed class Ignore : IActivationConsumer
    {
        public void OnBatch(ActivationBatch b) { }
    }

    /// <summary>
    /// An in-memory sink holds the same rows whether the hooks write into it directly (it is the capture's only consumer)
    /// or it copies each batch handed to it (beside another consumer): every output and input equals the layer computed
    /// directly on the whole data set, a NaN input's row is counted in every layer it reaches, and the layers are listed
    /// in site order (the order they finish; a container's input is written before its children's but listed after them).
    /// </summary>
    [Fact]
    public void AnInMemorySinkHoldsEachLayerExactlyWhetherTheHooksWriteIntoItOrItCopiesEachBatch()
    {
        torch.manual_seed(4);
        using var model = nn.Sequential(("block", nn.Sequential(("fc1", nn.Linear(6, 1100)), ("relu1", nn.ReLU()))), ("fc2", nn.Linear(1100, 3)));
        var data = Random(70, 6);
        data.Features.Data[65 * 6 + 1] = float.NaN; // a row of the last, partial batch
        var capture = new ActivationCapture(new LayerSelector("block,block.fc1,block.relu1,fc2"), MapReduction.Flatten, IncludeInputs: true, BatchSize: 64);
        Assert.True(64 * 1100 >= ModuleRun.CopyHalvesThreshold); // the wide layers are copied in halves
        float[] x = data.Features.Data, fc1, relu1, fc2;
        using (torch.no_grad())
        {
            var children = model.named_modules().ToDictionary(m => m.name, m => (nn.Module<Tensor, Tensor>)m.module);
            using var h = children["block.fc1"].call(torch.tensor(x, [70, 6]));
            using var r = torch.nn.functional.relu(h);
            using var o = children["fc2"].call(r);
            (fc1, relu1, fc2) = (h.data<float>().ToArray(), r.data<float>().ToArray(), o.data<float>().ToArray());
        }
        var expected = new Dictionary<string, (float[] Out, float[] In, long BadOut, long BadIn)>
        {
            ["block"] = (relu1, x, 1100, 1), ["block.fc1"] = (fc1, x, 1100, 1), ["block.relu1"] = (relu1, fc1, 1100, 1100), ["fc2"] = (fc2, relu1, 3, 1100),
        };
        foreach (bool alone in new[] { true, false })
        {
            var sink = new InMemorySink(70);
            var summary = alone ? capture.Run(model, data, sink) : capture.Run(model, data, sink, new Ignore());
            Assert.Equal(["block.fc1", "block.relu1", "block", "fc2"], sink.Outputs.Keys);
            Assert.Equal(["block.fc1", "block.relu1", "block", "fc2"], sink.Inputs.Keys);
            foreach (var (name, (want, wantIn, badOut, badIn)) in expected)
            {
                Assert.Equal(badOut, summary.NonFiniteOutputs[name]);
                Assert.Equal(badIn, summary.NonFiniteInputs[name]);
                foreach (var (got, exp) in new[] { (sink.Outputs[name].Data, want), (sink.Inputs[name].Data, wantIn) })
                {
                    Assert.Equal(exp.Length, got.Length);
                    // Matrix products may round differently with the batch size (last bit), nothing more.
                    for (int i = 0; i < exp.Length; i++)
                        if (float.IsNaN(exp[i])) Assert.True(float.IsNaN(got[i]), $"{name} [{i}] (alone {alone})");
                        else Assert.True(Math.Abs(exp[i] - got[i]) <= 1e-6f, $"{name} [{i}] (alone {alone}): {got[i]} vs {exp[i]}");
                }
            }
        }
    }

    /// <summary>An in-memory sink made for another number of rows than the capture runs on is an error, not rows of garbage.</summary>
    [Fact]
    public void AnInMemorySinkOfTheWrongSizeIsAnError()
    {
        var data = Random(20, 6);
        var capture = new ActivationCapture(BatchSize: 8);
        foreach (bool alone in new[] { true, false })
        {
            var more = Assert.Throws<ProbeException>(() => capture.Run(Mlp(), data, alone ? [new InMemorySink(25)] : [new InMemorySink(25), new Ignore()]));
            Assert.Contains("made for 25 rows, but layer 'fc1' received 20", more.Message);
            var fewer = Assert.Throws<ProbeException>(() => capture.Run(Mlp(), data, alone ? [new InMemorySink(12)] : [new InMemorySink(12), new Ignore()]));
            Assert.Contains("Rows 8..16 of layer 'fc1' lie outside the 12 rows", fewer.Message);
        }
    }

    [Fact]
    public void ReducesFeatureMapsPerChannel()
    {
        torch.manual_seed(3);
        var model = nn.Sequential(("conv1", nn.Conv2d(1, 4, 3, padding: 1)), ("relu1", nn.ReLU()));
        var rng = new Random(1);
        var data = new Dataset("maps", Matrix.Create(6, 25, (_, _) => (float)rng.NextDouble() - 0.5f), null, new[] { 1, 5, 5 });
        var flat = new ActivationCapture(Reduce: MapReduction.Flatten).ToMemory(model, data)["conv1"];
        var mean = new ActivationCapture(Reduce: MapReduction.Mean).ToMemory(model, data)["conv1"];
        var max = new ActivationCapture(Reduce: MapReduction.Max).ToMemory(model, data);
        Assert.Equal(100, flat.Cols);
        Assert.Equal(4, mean.Cols);
        Assert.Equal(new[] { 4, 5, 5 }, max.Summary.Layers[0].OutputShape);
        for (int s = 0; s < 6; s++)
            for (int c = 0; c < 4; c++)
            {
                var vals = Enumerable.Range(0, 25).Select(p => flat[s, c * 25 + p]).ToArray();
                Assert.Equal(vals.Average(), mean[s, c], 5);
                Assert.Equal(vals.Max(), max["conv1"][s, c]);
            }
    }

    sealed class Recorder : IActivationConsumer
    {
        public readonly List<(int Offset, int Count, int Rows)> Seen = new();
        public IReadOnlyList<LayerInfo>? Layers;
        public void OnBatch(ActivationBatch b) => Seen.Add((b.Offset, b.Count, b.Outputs["fc3"].Rows));
        public void OnEnd(IReadOnlyList<LayerInfo> layers) => Layers = layers;
    }

    [Fact]
    public void StreamingConsumersSeeEachBatchOnceInOrder()
    {
        var rec = new Recorder();
        new ActivationCapture(BatchSize: 16).Run(Mlp(), Random(50, 6), rec);
        Assert.Equal(new[] { (0, 16, 16), (16, 16, 16), (32, 16, 16), (48, 2, 2) }, rec.Seen);
        Assert.Equal(5, rec.Layers!.Count);
    }

    [Fact]
    public void ASampleCapPicksTheSameSamplesEveryTime()
    {
        var data = Random(100, 6);
        var a = new ActivationCapture().ToMemory(Mlp(1), data, maxSamples: 30, seed: 7);
        var b = new ActivationCapture().ToMemory(Mlp(2), data, maxSamples: 30, seed: 7);
        Assert.Equal(a.SampleIndices, b.SampleIndices);
        Assert.Equal(30, a["fc1"].Rows);
        Assert.True(a.SampleIndices.SequenceEqual(a.SampleIndices.Order()));
        Assert.NotEqual(a.SampleIndices, new ActivationCapture().ToMemory(Mlp(1), data, maxSamples: 30, seed: 8).SampleIndices);
        Assert.Equal(a.SampleIndices.Select(i => data.Labels![i]), a.Labels);
    }
}
