using Google.Protobuf;
using Onnx;
using Probe.Capture;
using Probe.Data;
using Probe.Onnx;
using Xunit;

namespace Probe.Tests.Onnx;

/// <summary>
/// How ONNX sites' values are laid out per sample, on small graphs built here whose values are worked out by hand:
/// which axis is the batch, and which axis of a rank-2 per-sample output holds the units.
/// </summary>
public class OnnxLayoutTests
{
    /// <summary>A float tensor value; a string dimension is symbolic (dim_param), a number fixed.</summary>
    internal static ValueInfoProto Value(string name, params object[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is string s ? new TensorShapeProto.Types.Dimension { DimParam = s } : new TensorShapeProto.Types.Dimension { DimValue = Convert.ToInt64(d) });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = shape } } };
    }

    /// <summary>A float32 initializer of the given shape.</summary>
    internal static TensorProto Floats(string name, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = 1 };
        t.Dims.AddRange(dims);
        t.FloatData.AddRange(values);
        return t;
    }

    internal static NodeProto Node(string name, string op, string[] inputs, string output)
    {
        var n = new NodeProto { Name = name, OpType = op };
        n.Input.AddRange(inputs);
        n.Output.Add(output);
        return n;
    }

    /// <summary>Writes the graph as an opset-13 model to a temporary .onnx file (the caller deletes it).</summary>
    internal static string Save(GraphProto g)
    {
        var m = new ModelProto { Graph = g, IrVersion = 7 };
        m.OpsetImport.Add(new OperatorSetIdProto { Version = 13 });
        string path = Path.Combine(Path.GetTempPath(), "probe-onnx-layout-" + Guid.NewGuid().ToString("N") + ".onnx");
        File.WriteAllBytes(path, m.ToByteArray());
        return path;
    }

    /// <summary>y = Conv1d(x) with x [N, 2, 5] and a 1-wide kernel: y[c] = (c + 1) · x[0], so y is [N, C = 3, L = 5].</summary>
    static string Conv1dModel()
    {
        var g = new GraphProto { Name = "c1" };
        var w = new TensorProto { Name = "w", DataType = 1 };
        w.Dims.AddRange([3, 2, 1]);
        w.FloatData.AddRange([1, 0, 2, 0, 3, 0]);
        g.Initializer.Add(w);
        g.Node.Add(Node("/conv/Conv", "Conv", ["x", "w"], "y"));
        g.Input.Add(Value("x", "N", 2, 5));
        g.Output.Add(Value("y", "N", 3, 5));
        return Save(g);
    }

    [Fact]
    public void Conv1dOutputIsReducedOverItsPositionsPerChannel()
    {
        string path = Conv1dModel();
        try
        {
            using var source = new OnnxActivationSource(path);
            // Sample 0: channel 0 = 1..5; sample 1: channel 0 = 2, 0, 0, 0, 0 (channel 1 ignored by the kernel).
            var x = new float[] { 1, 2, 3, 4, 5, 9, 9, 9, 9, 9, 2, 0, 0, 0, 0, 7, 7, 7, 7, 7 };
            var data = new Dataset("x", new Matrix(2, 10, x), null, [2, 5]);
            Matrix Run(MapReduction r) => new ActivationCapture(new LayerSelector("conv"), r).ToMemory(source, data)["conv"];
            // Channel c of sample 0 is (c + 1) · [1..5]: mean 3(c + 1), max 5(c + 1); sample 1: mean 0.4(c + 1), max 2(c + 1).
            var mean = Run(MapReduction.Mean);
            Assert.Equal(new float[] { 3, 6, 9 }, mean.Row(0).ToArray());
            Assert.Equal(new[] { 0.4f, 0.8f, 1.2f }, mean.Row(1).ToArray());
            Assert.Equal(new float[] { 5, 10, 15 }, Run(MapReduction.Max).Row(0).ToArray());
            Assert.Equal(new float[] { 1, 2, 3, 4, 5, 2, 4, 6, 8, 10, 3, 6, 9, 12, 15 }, Run(MapReduction.Flatten).Row(0).ToArray());
            // First/last pick a token of a sequence: a feature map has none.
            var e = Assert.Throws<ProbeException>(() => Run(MapReduction.Last));
            Assert.Contains("'conv'", e.Message);
            Assert.Contains("mean, max or flatten", e.Message);
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// x [batch, seq, 2] → Transpose → tr [seq, batch, 2] (sequence-first, as nn.Transformer's default) → Relu → act →
    /// Transpose → back [batch, seq, 2]: both axes symbolic, so only the names tell the batch axis.
    /// </summary>
    static string SequenceFirstModel()
    {
        var g = new GraphProto { Name = "t" };
        NodeProto Transpose(string name, string input, string output)
        {
            var n = Node(name, "Transpose", [input], output);
            n.Attribute.Add(new AttributeProto { Name = "perm", Type = AttributeProto.Types.AttributeType.Ints, Ints = { 1, 0, 2 } });
            return n;
        }
        g.Node.AddRange([Transpose("/tr/Transpose", "x", "y"), Node("/act/Relu", "Relu", ["y"], "z"), Transpose("/back/Transpose", "z", "w")]);
        g.Input.Add(Value("x", "batch", "seq", 2));
        g.Output.Add(Value("w", "batch", "seq", 2));
        return Save(g);
    }

    [Fact]
    public void SequenceFirstOutputIsNotASiteEvenWhenTheBatchSizeEqualsItsLength()
    {
        string path = SequenceFirstModel();
        try
        {
            using var source = new OnnxActivationSource(path);
            Assert.Equal(["back"], source.Sites.Select(s => s.Name));
            // 8 samples of 4 tokens x 2 features, value = 100 · sample + 10 · token + feature; batches of 4 = the token count.
            var x = new float[8 * 8];
            for (int s = 0; s < 8; s++) for (int t = 0; t < 4; t++) for (int d = 0; d < 2; d++) x[s * 8 + t * 2 + d] = 100 * s + 10 * t + d;
            var data = new Dataset("seq", new Matrix(8, 8, x), null, [4, 2]);
            var capture = new ActivationCapture(new LayerSelector("tr"), MapReduction.Flatten, BatchSize: 4);
            var e = Assert.Throws<ProbeArgumentException>(() => capture.ToMemory(source, data));
            Assert.Contains("'tr' (Transpose)", e.Message);
            Assert.Contains("[seq, batch, 2]", e.Message);
            Assert.Contains("not the batch axis of input 'x' ('batch')", e.Message);
            Assert.Contains("'act' (Relu)", Assert.Throws<ProbeException>(() => source.Start(["act"], MapReduction.Mean, false)).Message);
            // Back to batch-first: sample s's row is its own values (all positive, so the ReLU keeps them).
            var back = (capture with { Layers = new LayerSelector("back") }).ToMemory(source, data)["back"];
            for (int s = 0; s < 8; s++) Assert.Equal(x.AsSpan(s * 8, 8).ToArray(), back.Row(s).ToArray());
        }
        finally { File.Delete(path); }
    }
    /// <summary>
    /// A first axis that shape inference gave another symbolic name than the input's batch (here declared "n2" after a
    /// Reshape) is still the batch when it is no other axis of the input: the site is listed, and its rows are each
    /// sample's own values (worked out by hand: the reshape keeps them, the ReLU zeroes the negative ones).
    /// </summary>
    [Fact]
    public void ARenamedBatchAxisIsStillTheBatch()
    {
        var g = new GraphProto { Name = "renamed" };
        var shape = new TensorProto { Name = "shape", DataType = 7 };
        shape.Dims.Add(3);
        shape.Int64Data.AddRange([-1, 2, 3]);
        g.Initializer.Add(shape);
        g.Node.AddRange([Node("/rs/Reshape", "Reshape", ["x", "shape"], "y"), Node("/act/Relu", "Relu", ["y"], "z")]);
        g.Input.Add(Value("x", "batch", 6));
        g.ValueInfo.Add(Value("y", "n2", 2, 3));
        g.Output.Add(Value("z", "n2", 2, 3));
        string path = Save(g);
        try
        {
            using var source = new OnnxActivationSource(path);
            Assert.Equal(["rs", "act"], source.Sites.Select(s => s.Name));
            var x = Enumerable.Range(0, 5 * 6).Select(v => (float)(v % 7) - 3).ToArray();
            var data = new Dataset("x", new Matrix(5, 6, x), null, [6]);
            var got = new ActivationCapture(null, MapReduction.Flatten, BatchSize: 2).ToMemory(source, data);
            Assert.Equal(x, got["rs"].Data);
            Assert.Equal(x.Select(v => Math.Max(v, 0f)).ToArray(), got["act"].Data);
        }
        finally { File.Delete(path); }
    }
    /// <summary>
    /// A model whose data input is int64 (token ids) fed from a data set's float32 values: whole numbers go in as they
    /// are (the Cast's output equals them); a fractional value or one float32 cannot hold exactly is an error, not an
    /// id rounded to another.
    /// </summary>
    [Fact]
    public void IntegerInputsFedFromTheDataMustBeWholeNumbersFloat32HoldsExactly()
    {
        var g = new GraphProto { Name = "ids" };
        var cast = Node("/cast/Cast", "Cast", ["ids"], "y");
        cast.Attribute.Add(new AttributeProto { Name = "to", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        g.Node.Add(cast);
        var ids = Value("ids", "batch", 3);
        ids.Type.TensorType.ElemType = 7; // int64
        g.Input.Add(ids);
        g.Output.Add(Value("y", "batch", 3));
        string path = Save(g);
        try
        {
            using var source = new OnnxActivationSource(path);
            var capture = new ActivationCapture(new LayerSelector("cast"), MapReduction.Flatten, BatchSize: 2);
            float[] whole = [0, 1, 2, 30_000, 16_777_215, 7];
            Assert.Equal(whole, capture.ToMemory(source, new Dataset("ids", new Matrix(2, 3, whole), null, [3]))["cast"].Data);
            foreach (var bad in new[] { 2.5f, 16_777_216f, -0.25f })
            {
                var e = Assert.Throws<ProbeException>(() => capture.ToMemory(source, new Dataset("ids", new Matrix(2, 3, [0, 1, 2, 3, bad, 5]), null, [3])));
                Assert.Contains("takes Int64 values", e.Message);
                Assert.Contains("must be whole numbers below 16,777,216", e.Message);
            }
        }
        finally { File.Delete(path); }
    }
}
