using Onnx;
using Probe.Analysis;
using Probe.Capture;
using Probe.Data;
using Probe.Onnx;
using Xunit;
using static Probe.Tests.Onnx.OnnxLayoutTests;

namespace Probe.Tests.Onnx;

/// <summary>
/// An activation op (Relu, Sigmoid, ...) keeps its input's layout: after a Conv1d its [C, L] output is C channels of L
/// positions, not L tokens of C features. Worked out by hand on a graph built here.
/// </summary>
public class OnnxElementwiseLayoutTests
{
    /// <summary>
    /// x [N, 2, 4] → Conv (1-wide kernel) → y [N, 3, 4] with y[0] = x[0], y[1] = x[0] - 100, y[2] = -x[0] → Relu → z.
    /// </summary>
    static string Conv1dReluModel()
    {
        var g = new GraphProto { Name = "c1relu" };
        var w = Floats("w", [3, 2, 1], 1, 0, 1, 0, -1, 0);
        var b = Floats("b", [3], 0, -100, 0);
        g.Initializer.Add(w);
        g.Initializer.Add(b);
        g.Node.Add(Node("/conv/Conv", "Conv", ["x", "w", "b"], "y"));
        g.Node.Add(Node("/act/Relu", "Relu", ["y"], "z"));
        g.Input.Add(Value("x", "N", 2, 4));
        g.Output.Add(Value("z", "N", 3, 4));
        return Save(g);
    }

    // Channel 0 of x per sample (channel 1 is 0, and the kernel ignores it):
    //   s0: [1, -2, 3, -4] → y0 = [1, -2, 3, -4] (fires), y1 < 0, y2 = [-1, 2, -3, 4] (fires)
    //   s1: [-1, -1, -1, -1] → y0 < 0, y1 < 0, y2 = [1, 1, 1, 1] (fires)
    //   s2: [0, 0, 0, 0] → y0 = 0, y1 = -100, y2 = 0: nothing fires
    static Dataset Data() => new("x", new Matrix(3, 8,
        [1, -2, 3, -4, 0, 0, 0, 0,
         -1, -1, -1, -1, 0, 0, 0, 0,
         0, 0, 0, 0, 0, 0, 0, 0]), null, [2, 4]);

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(256)]
    public void AReluAfterAConv1dHasOneUnitPerChannel(int batch)
    {
        string path = Conv1dReluModel();
        try
        {
            using var source = new OnnxActivationSource(path);
            var act = new DeadUnitStudy(new LayerSelector("act"), BatchSize: batch).Run(source, Data()).Layer("act");
            // Three channels of four positions; a channel fires on a sample when any of its positions is > 0.
            Assert.Equal(3, act.Stats.Units);
            Assert.Equal(4, act.Positions);
            Assert.Equal(new[] { 1f / 3, 0f, 2f / 3 }, act.Stats.FiringRates);
            Assert.Equal([1], act.Stats.DeadUnits);
            // Relu outputs: s0 [1,0,3,0 | 0 x4 | 0,2,0,4], s1 [0 x4 | 0 x4 | 1,1,1,1], s2 all 0: 8 of 36 values non-zero.
            Assert.Equal(28.0 / 36, act.Stats.Sparsity, 12);
            Assert.Equal(14.0 / 36, act.Stats.Mean, 12);
            // The dead channel's cause comes from the Conv's bias: -100 + 1 x max ||window|| <= 0, where a kernel-1 window
            // is one position of both channels: at most |-4| = 4 (the whole row's norm, sqrt 30, was a looser bound).
            var cause = Assert.Single(act.Causes);
            Assert.Equal(1, cause.Unit);
            Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
            Assert.Equal(-100, cause.Bias, 6);
            Assert.Equal(4, cause.MaxInputNorm, 5);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AReluAfterAConv1dIsReducedPerChannel()
    {
        string path = Conv1dReluModel();
        try
        {
            using var source = new OnnxActivationSource(path);
            var mean = new ActivationCapture(new LayerSelector("act"), MapReduction.Mean).ToMemory(source, Data())["act"];
            Assert.Equal(3, mean.Cols);
            Assert.Equal(new[] { 1f, 0f, 1.5f }, mean.Row(0).ToArray());
            Assert.Equal(new[] { 0f, 0f, 1f }, mean.Row(1).ToArray());
            Assert.Equal(new[] { 0f, 0f, 0f }, mean.Row(2).ToArray());
        }
        finally { File.Delete(path); }
    }

    /// <summary>A Relu after a MatMul over tokens stays a sequence: [T, D] is D units over T tokens.</summary>
    [Fact]
    public void AReluAfterAMatMulOverTokensHasOneUnitPerFeature()
    {
        var g = new GraphProto { Name = "tok" };
        var w = new TensorProto { Name = "w", DataType = 1 };
        w.Dims.AddRange([2, 3]);
        w.FloatData.AddRange([1, 0, -1, 0, 1, 0]); // h = [x0, x1, -x0]
        g.Initializer.Add(w);
        g.Node.Add(Node("/fc/MatMul", "MatMul", ["x", "w"], "h"));
        g.Node.Add(Node("/act/Relu", "Relu", ["h"], "z"));
        g.Input.Add(Value("x", "N", 4, 2));
        g.Output.Add(Value("z", "N", 4, 3));
        string path = Save(g);
        try
        {
            using var source = new OnnxActivationSource(path);
            // Two samples of 4 tokens x 2 features; sample 0: x0 = 1 on token 2 only; sample 1: x1 = -1 everywhere.
            var data = new Dataset("x", new Matrix(2, 8, [0, 0, 0, 0, 1, 0, 0, 0, 0, -1, 0, -1, 0, -1, 0, -1]), null, [4, 2]);
            var act = new DeadUnitStudy(new LayerSelector("act")).Run(source, data).Layer("act");
            Assert.Equal(3, act.Stats.Units);
            Assert.Equal(4, act.Positions);
            Assert.Equal(new[] { 0.5f, 0f, 0f }, act.Stats.FiringRates);
            Assert.Equal([1, 2], act.Stats.DeadUnits);
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// A Linear over tokens as PyTorch exports it (MatMul then Add of the bias) before a Relu: each unit reads one token's
    /// two features, so its cause is bounded by the largest token norm, not by the norm of all of a sample's tokens.
    /// </summary>
    [Fact]
    public void ALinearOverTokensIsBoundedByItsLargestToken()
    {
        var g = new GraphProto { Name = "tokens" };
        var w = Floats("w", [2, 2], 1, 0, 0, 1);        // unit 0 = feature 0, unit 1 = feature 1
        var b = Floats("b", [2], 0, -6);
        g.Initializer.AddRange([w, b]);
        g.Node.AddRange([
            Node("/fc/MatMul", "MatMul", ["x", "w"], "m"),
            Node("/fc/Add", "Add", ["m", "b"], "h"),
            Node("/act/Relu", "Relu", ["h"], "z"),
        ]);
        g.Input.Add(Value("x", "N", 3, 2));
        g.Output.Add(Value("z", "N", 3, 2));
        string path = Save(g);
        try
        {
            using var source = new OnnxActivationSource(path);
            // Tokens (f0, f1): s0 (3, 4) (0, 1) (1, 0); s1 (-1, 2) (0, 0) (2, 2). Unit 1 = f1 - 6 is never > 0 (f1 <= 4).
            // The largest token norm is |(3, 4)| = 5: -6 + 1 x 5 < 0, bias too low; the largest row norm, |s0| = sqrt(27)
            // = 5.196, would also say so, so the bound itself is checked: 5.
            var data = new Dataset("x", new Matrix(2, 6, [3, 4, 0, 1, 1, 0, -1, 2, 0, 0, 2, 2]), null, [3, 2]);
            var act = new DeadUnitStudy(new LayerSelector("act")).Run(source, data).Layer("act");
            Assert.Equal([1], act.Stats.DeadUnits);
            var cause = Assert.Single(act.Causes);
            Assert.Equal("MatMul+Add", act.PrecedingType);
            Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
            Assert.Equal(5, cause.MaxInputNorm, 6);
        }
        finally { File.Delete(path); }
    }

    /// <summary>
    /// A grouped Conv1d (group 2, kernel 1): unit 0 reads channel 0, unit 1 channel 1 minus 100. A window over both
    /// channels bounds what either unit reads (its own channel is part of it), so unit 1's death is the bias's.
    /// </summary>
    [Fact]
    public void AGroupedConvIsExplainedWithAWindowOverEveryChannel()
    {
        var g = new GraphProto { Name = "grouped" };
        var w = Floats("w", [2, 1, 1], 1, 1);
        var b = Floats("b", [2], 0, -100);
        g.Initializer.AddRange([w, b]);
        var conv = Node("/conv/Conv", "Conv", ["x", "w", "b"], "y");
        conv.Attribute.Add(new AttributeProto { Name = "group", Type = AttributeProto.Types.AttributeType.Int, I = 2 });
        g.Node.AddRange([conv, Node("/act/Relu", "Relu", ["y"], "z")]);
        g.Input.Add(Value("x", "N", 2, 3));
        g.Output.Add(Value("z", "N", 2, 3));
        string path = Save(g);
        try
        {
            using var source = new OnnxActivationSource(path);
            // One sample: channel 0 = (1, -2, 3), channel 1 = (4, 0, -1); windows of one position: |(1, 4)| = sqrt(17) is the largest.
            var data = new Dataset("x", new Matrix(1, 6, [1, -2, 3, 4, 0, -1]), null, [2, 3]);
            var act = new DeadUnitStudy(new LayerSelector("act")).Run(source, data).Layer("act");
            Assert.Equal([1], act.Stats.DeadUnits);
            var cause = Assert.Single(act.Causes);
            Assert.Equal(DeadUnitReason.BiasBelowReachableInput, cause.Reason);
            Assert.Equal(Math.Sqrt(17), cause.MaxInputNorm, 6);
            Assert.Equal(1, cause.WeightNorm, 6);
        }
        finally { File.Delete(path); }
    }
}
