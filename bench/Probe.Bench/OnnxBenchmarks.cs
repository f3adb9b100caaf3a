using System.Diagnostics;
using System.Runtime.InteropServices;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Onnx;
using Probe.Capture;
using Probe.Onnx;

namespace Probe.Bench;

/// <summary>
/// Issue 10: the ONNX source capturing every site (each node output added to the graph outputs, reduced to channel
/// means) against plain ONNX Runtime inference of the unmodified model on the same batches, as a ratio in one run
/// (goal ≤ 1.3×). The model is a ResNet-18-shaped network (BatchNorm folded, as torch.onnx.export writes it in eval
/// mode) with random weights, built here with PyTorch's node names; set PROBE_BENCH_ONNX=FILE.onnx to measure a file of
/// your own instead (its input must have a symbolic batch axis and static sample dims).
/// </summary>
public sealed class OnnxBenchmarks : IBenchmark
{
    public string Name => "onnx";
    public string Description => "ONNX source capturing every site vs plain ONNX Runtime inference (ratio).";

    public void Run(BenchContext ctx)
    {
        string? own = Environment.GetEnvironmentVariable("PROBE_BENCH_ONNX");
        int size = ctx.Quick ? 64 : 224, samples = ctx.Quick ? 32 : 256, batch = ctx.Quick ? 16 : 32;
        string path = own ?? Path.Combine(Path.GetTempPath(), $"probe-bench-resnet18-{size}.onnx");
        if (own is null) File.WriteAllBytes(path, ResNet18(size, seed: 1).ToByteArray());
        try
        {
            using var source = new OnnxActivationSource(path);
            int[] sample = source.InputShape ?? throw new InvalidOperationException("The model's input needs static sample dims.");
            int per = sample.Aggregate(1, (a, b) => a * b);
            var rng = new Random(0);
            var x = new float[samples * per];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
            ctx.Out.WriteLine($"  model: {(own ?? "ResNet-18 shape, random weights")}, {source.Sites.Count} sites, {samples} samples of [{string.Join(", ", sample)}], batches of {batch}");

            using var plain = new InferenceSession(path);
            string input = plain.InputMetadata.Keys.First();
            var outputs = plain.OutputMetadata.Keys.ToArray();
            void Plain()
            {
                using var ro = new RunOptions();
                for (int start = 0; start < samples; start += batch)
                {
                    int n = Math.Min(batch, samples - start);
                    var buf = x.AsSpan(start * per, n * per).ToArray();
                    using var v = OrtValue.CreateTensorValueFromMemory(buf, new long[] { n }.Concat(sample.Select(d => (long)d)).ToArray());
                    using var r = plain.Run(ro, new[] { input }, new[] { v }, outputs);
                }
            }
            void Capture(IReadOnlyList<string> sites, MapReduction reduce, bool inputs)
            {
                using var run = source.Start(sites, reduce, inputs);
                for (int start = 0; start < samples; start += batch)
                {
                    int n = Math.Min(batch, samples - start);
                    run.Forward(x.AsSpan(start * per, n * per), n, sample, start);
                }
            }

            var all = source.Sites.Select(s => s.Name).ToList();
            var relus = new LayerSelector("type:Relu").Resolve(source.Sites).ToList();
            int repeats = ctx.Quick ? 2 : 3;
            // Interleaved, best of each, so drift in machine load hits every variant alike.
            double tPlain = double.MaxValue, tAll = double.MaxValue, tRelu = double.MaxValue, tInputs = double.MaxValue;
            Plain(); Capture(all, MapReduction.Mean, false);
            for (int r = 0; r < repeats; r++)
            {
                tPlain = Math.Min(tPlain, Time(Plain));
                tAll = Math.Min(tAll, Time(() => Capture(all, MapReduction.Mean, false)));
                tRelu = Math.Min(tRelu, Time(() => Capture(relus, MapReduction.Mean, false)));
                tInputs = Math.Min(tInputs, Time(() => Capture(relus, MapReduction.Mean, true)));
            }
            ctx.Report("plain ONNX Runtime inference", tPlain, "s");
            ctx.Report($"capture all {all.Count} sites (mean)", tAll, "s");
            ctx.Report("  ratio all sites / plain (goal <= 1.3)", tAll / tPlain, "x");
            ctx.Report($"capture {relus.Count} Relu sites", tRelu, "s");
            ctx.Report("  ratio Relu sites / plain", tRelu / tPlain, "x");
            ctx.Report("capture Relu sites + their inputs", tInputs, "s");
            ctx.Report("  ratio Relu + inputs / plain", tInputs / tPlain, "x");
            ctx.Report("peak resident memory", BenchContext.PeakResidentMiB(), "MiB");
        }
        finally
        {
            if (own is null) File.Delete(path);
        }
    }

    static double Time(Action a)
    {
        var sw = Stopwatch.StartNew();
        a();
        return sw.Elapsed.TotalSeconds;
    }

    // ------------------------------------------------------------------ a ResNet-18-shaped ONNX graph

    /// <summary>
    /// torchvision's resnet18 as torch.onnx.export writes it in eval mode (Conv with folded BatchNorm bias, Relu, residual
    /// Add, GlobalAveragePool, Flatten, Gemm), node names in PyTorch's scope style, He-initialised random weights.
    /// </summary>
    internal static ModelProto ResNet18(int size, int seed)
    {
        var rng = new Random(seed);
        var g = new GraphProto { Name = "resnet18" };
        var input = new ValueInfoProto { Name = "x", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = 1, Shape = new TensorShapeProto() } } };
        input.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimParam = "n" });
        foreach (var d in new[] { 3, size, size }) input.Type.TensorType.Shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        g.Input.Add(input);
        int counter = 0;

        string Init(string name, float[] values, params long[] dims)
        {
            var t = new TensorProto { Name = name, DataType = 1, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values.AsSpan())) };
            t.Dims.Add(dims);
            g.Initializer.Add(t);
            return name;
        }
        float[] He(int n, int fan) { var a = new float[n]; double s = Math.Sqrt(2.0 / fan); for (int i = 0; i < n; i++) a[i] = (float)(s * Gauss(rng)); return a; }
        float[] Small(int n) { var a = new float[n]; for (int i = 0; i < n; i++) a[i] = (float)(0.05 * Gauss(rng)); return a; }
        string Node(string scope, string op, string[] inputs, params AttributeProto[] attrs)
        {
            var n = new NodeProto { Name = $"{scope}/{op}", OpType = op };
            n.Input.AddRange(inputs);
            string output = $"{scope}/{op}_output_{counter++}";
            n.Output.Add(output);
            n.Attribute.AddRange(attrs);
            g.Node.Add(n);
            return output;
        }
        AttributeProto Ints(string name, params long[] v) { var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints }; a.Ints.Add(v); return a; }
        string Conv(string scope, string x, int cin, int cout, int k, int stride)
        {
            string w = Init($"{scope.TrimStart('/').Replace('/', '.')}.weight", He(cout * cin * k * k, cin * k * k), cout, cin, k, k);
            string b = Init($"{scope.TrimStart('/').Replace('/', '.')}.bias", Small(cout), cout);
            return Node(scope, "Conv", [x, w, b], Ints("kernel_shape", k, k), Ints("pads", k / 2, k / 2, k / 2, k / 2), Ints("strides", stride, stride));
        }

        string h = Conv("/conv1", "x", 3, 64, 7, 2);
        h = Node("/relu", "Relu", [h]);
        h = Node("/maxpool", "MaxPool", [h], Ints("kernel_shape", 3, 3), Ints("pads", 1, 1, 1, 1), Ints("strides", 2, 2));
        int cin = 64;
        int[] widths = [64, 128, 256, 512];
        for (int l = 0; l < 4; l++)
        {
            for (int b = 0; b < 2; b++)
            {
                string scope = $"/layer{l + 1}/layer{l + 1}.{b}";
                int stride = l > 0 && b == 0 ? 2 : 1;
                int cout = widths[l];
                string identity = h;
                string o = Conv(scope + "/conv1", h, cin, cout, 3, stride);
                o = Node(scope + "/relu", "Relu", [o]);
                o = Conv(scope + "/conv2", o, cout, cout, 3, 1);
                if (stride != 1 || cin != cout) identity = Conv(scope + "/downsample/downsample.0", h, cin, cout, 1, stride);
                o = Node(scope, "Add", [o, identity]);
                h = Node(scope + "/relu_1", "Relu", [o]);
                cin = cout;
            }
        }
        h = Node("/avgpool", "GlobalAveragePool", [h]);
        h = Node("", "Flatten", [h], new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        string fcw = Init("fc.weight", He(1000 * 512, 512), 1000, 512);
        string fcb = Init("fc.bias", Small(1000), 1000);
        var gemm = new NodeProto { Name = "/fc/Gemm", OpType = "Gemm" };
        gemm.Input.AddRange([h, fcw, fcb]);
        gemm.Output.Add("y");
        gemm.Attribute.Add(new AttributeProto { Name = "transB", Type = AttributeProto.Types.AttributeType.Int, I = 1 });
        g.Node.Add(gemm);
        g.Output.Add(new ValueInfoProto { Name = "y" });
        var model = new ModelProto { IrVersion = 8, ProducerName = "probe-bench", Graph = g };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model;
    }

    static double Gauss(Random r) => Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
}
