using Probe.Capture;
using Probe.Data;
using Probe.Models;
using Probe.Onnx;
using Xunit;

namespace Probe.Tests.Capture;

/// <summary>
/// <c>--device</c>: what parses, what auto means here, and the clear error when CUDA is absent (this machine and CI have
/// TorchSharp-cpu and the CPU ONNX Runtime, so the CUDA path itself cannot run here).
/// </summary>
[Collection(SerialTorchCollection.Name)]
public class ComputeDeviceTests
{
    [Theory]
    [InlineData("auto", DeviceKind.Auto, 0)]
    [InlineData("CPU", DeviceKind.Cpu, 0)]
    [InlineData("cuda", DeviceKind.Cuda, 0)]
    [InlineData("cuda:3", DeviceKind.Cuda, 3)]
    [InlineData(" cuda:0 ", DeviceKind.Cuda, 0)]
    public void Parses_the_documented_forms(string text, DeviceKind kind, int index)
    {
        var d = ComputeDevice.Parse(text);
        Assert.Equal(kind, d.Kind);
        Assert.Equal(index, d.Index);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:")]
    [InlineData("cuda:-1")]
    [InlineData("cuda:x")]
    [InlineData("")]
    public void Rejects_anything_else_listing_the_forms(string text)
    {
        var e = Assert.Throws<ProbeException>(() => ComputeDevice.Parse(text));
        Assert.Contains("auto, cpu, cuda or cuda:N", e.Message);
    }

    [Fact]
    public void Auto_is_the_cpu_when_libtorch_has_no_cuda()
    {
        Assert.Equal(0, ComputeDevice.CudaDeviceCount()); // TorchSharp-cpu: if this fails, the machine has CUDA and the tests below do not apply
        Assert.Equal(ComputeDevice.Cpu, ComputeDevice.Auto.Resolve());
    }

    [Fact]
    public void Cuda_without_cuda_names_the_package_to_reference()
    {
        var e = Assert.Throws<ProbeException>(() => ComputeDevice.Parse("cuda:1").Resolve());
        Assert.Contains("TorchSharp-cuda-linux", e.Message);
        Assert.Contains("--device cpu", e.Message);
        e = Assert.Throws<ProbeException>(() => ModelLoader.Open("mlp:64-16-10:relu", null, device: ComputeDevice.Parse("cuda")));
        Assert.Contains("TorchSharp-cuda", e.Message);
    }

    [Fact]
    public void Onnx_cuda_without_the_gpu_runtime_names_its_package()
    {
        string model = Path.Combine(AppContext.BaseDirectory, "fixtures", "onnx", "resnet.onnx");
        var e = Assert.Throws<ProbeException>(() => new OnnxActivationSource(model, device: ComputeDevice.Parse("cuda")));
        Assert.Contains("Microsoft.ML.OnnxRuntime.Gpu", e.Message);
        using var auto = new OnnxActivationSource(model, device: ComputeDevice.Auto);
        Assert.Equal(ComputeDevice.Cpu, auto.Device);
    }

    [Fact]
    public void A_source_on_auto_captures_what_the_cpu_source_captures()
    {
        var data = new Dataset("rand", new Matrix(20, 64, Enumerable.Range(0, 20 * 64).Select(i => (float)Math.Sin(i * 0.37)).ToArray()),
            Enumerable.Range(0, 20).Select(i => i % 10).ToArray(), [64]);
        Matrix Capture(ComputeDevice device)
        {
            using var source = ModelLoader.Open("mlp:64-16-10:relu", null, seed: 4, device: device);
            source.Bind(data);
            using var run = source.Start(["fc1"], MapReduction.Mean, includeInputs: false);
            var x = new float[20 * 64];
            data.ReadBatch(0, 20, x);
            run.Forward(x, 20, [64], 0);
            var m = run.Outputs["fc1"];
            return new Matrix(m.Rows, m.Cols, m.Data[..(m.Rows * m.Cols)]);
        }
        var cpu = Capture(ComputeDevice.Cpu);
        var auto = Capture(ComputeDevice.Auto);
        Assert.Equal(cpu.Data.ToArray(), auto.Data.ToArray());
        Assert.Contains(cpu.Data.ToArray(), v => v != 0);
    }
}
