using Google.Protobuf;
using Onnx;
using Probe.Models;
using Probe.Onnx;
using Xunit;

namespace Probe.Tests.Onnx;

/// <summary>
/// A model exported in training mode normalises with each batch's statistics and drops values at random, so every
/// activation would depend on --batch-size and on which samples share a batch: Probe refuses it and says how to export.
/// The two fixtures are PyTorch's own training-mode exports (tests/fixtures/onnx/make_training_mode.py).
/// </summary>
public class OnnxTrainingModeTests
{
    [Theory]
    [InlineData("train_opset13.onnx")]   // BatchNormalization marked by its running-statistics outputs
    [InlineData("train_opset15.onnx")]   // BatchNormalization marked by training_mode = 1
    public void AModelExportedInTrainingModeIsRefusedNamingItsNodes(string file)
    {
        var e = Assert.Throws<ProbeException>(() => new OnnxActivationSource(OnnxSourceTests.Fixture(file)));
        Assert.StartsWith($"The ONNX model '{file}' was exported in training mode: ", e.Message);
        Assert.Contains("BatchNormalization '/bn/BatchNormalization' normalises with each batch's own statistics", e.Message);
        Assert.Contains("Dropout '/drop/Dropout' drops values at random", e.Message);
        Assert.Contains("model.eval()", e.Message);
        // The CLI's way in gives the same refusal.
        Assert.Equal(e.Message, Assert.Throws<ProbeException>(() => ModelLoader.Open(OnnxSourceTests.Fixture(file), null)).Message);
    }

    /// <summary>x [N, 4] → Dropout(ratio 0.5, training_mode = a constant bool) → y.</summary>
    static string DropoutModel(bool training)
    {
        var g = new GraphProto { Name = "d" };
        g.Initializer.Add(new TensorProto { Name = "ratio", DataType = (int)TensorProto.Types.DataType.Float, FloatData = { 0.5f } });
        g.Initializer.Add(new TensorProto { Name = "train", DataType = (int)TensorProto.Types.DataType.Bool, RawData = ByteString.CopyFrom((byte)(training ? 1 : 0)) });
        g.Node.Add(OnnxLayoutTests.Node("/drop/Dropout", "Dropout", ["x", "ratio", "train"], "y"));
        g.Input.Add(OnnxLayoutTests.Value("x", "N", 4));
        g.Output.Add(OnnxLayoutTests.Value("y", "N", 4));
        return OnnxLayoutTests.Save(g);
    }

    [Fact]
    public void ADropoutIsRefusedOnlyWhenItsTrainingModeIsTrue()
    {
        string off = DropoutModel(training: false), on = DropoutModel(training: true);
        try
        {
            using (var source = new OnnxActivationSource(off))
                Assert.Contains(source.Sites, s => s.Name == "drop");
            var e = Assert.Throws<ProbeException>(() => new OnnxActivationSource(on));
            Assert.Contains("Dropout '/drop/Dropout' drops values at random", e.Message);
            Assert.DoesNotContain("BatchNormalization", e.Message);
        }
        finally { File.Delete(off); File.Delete(on); }
    }
}
