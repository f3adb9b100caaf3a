using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using Probe.Build;
using Probe.Data;
using Xunit;

namespace Probe.Tests.Foundation;

/// <summary>
/// Probe as a library, the way a user gets it: a fresh console app in a temp folder references the Probe.Reporting
/// package (which brings Probe) from nupkg/ (filled by the build, in the version it wrote to nupkg/Probe.Reporting.version) with an offline restore (nupkg/ and the machine's NuGet
/// cache are the only sources), is published, and runs. It loads the PyTorch digits MLP (Fixtures/digits_mlp.safetensors),
/// captures fc1 on Fixtures/digits_input.npy and must give what PyTorch's own forward hook recorded
/// (Fixtures/digits_fc1.npy, see Fixtures/SOURCE.md); it also saves a figure. The build and publish outputs carry a
/// libLibTorchSharp.so patched by the package's buildTransitive targets, while the NuGet cache's copy stays untouched.
/// Takes about 1-2 minutes (restore, publish, run).
/// </summary>
public class PackageConsumerTests
{
    static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    static string NuGetRoot() => typeof(PackageConsumerTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .Single(a => a.Key == "NuGetPackageRoot").Value!;

    const string Program = """
        using System.Runtime.InteropServices;
        using Probe.Capture;
        using Probe.Data;
        using Probe.Models;
        using Probe.Reporting;

        string fixtures = args[0], output = args[1];
        var spec = ModelSpec.Parse("mlp:64-128-64-32-10:relu");
        using var model = spec.Build(seed: 0);
        Weights.Load(model, Path.Combine(fixtures, "digits_mlp.safetensors"));
        var input = Npy.ReadMatrix(Path.Combine(fixtures, "digits_input.npy"));
        var data = new Dataset("digits", input, Npy.ReadInt32(Path.Combine(fixtures, "digits_labels.npy")), new[] { 64 });
        var acts = new ActivationCapture(new LayerSelector("fc1")).ToMemory(model, data);
        var fc1 = acts["fc1"];
        File.WriteAllBytes(Path.Combine(output, "fc1.f32"), MemoryMarshal.AsBytes(fc1.Data.AsSpan()).ToArray());
        var plot = Figures.StackedBar(new[] { "fc1" }, new[] { new NamedSeries("positive", new[] { fc1.Data.Count(v => v > 0) / (double)fc1.Data.Length }) }, title: "fc1");
        FigureExporter.Save(plot, Path.Combine(output, "fc1.png"));
        Console.WriteLine($"fc1 {fc1.Rows}x{fc1.Cols}; {Probe.Native.TorchSharpNative.Status}");
        """;

    static (int Code, string Output) Run(string dir, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { WorkingDirectory = dir, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        return (p.ExitCode, stdout + stderr.Result);
    }

    [Fact]
    public void AFreshConsoleAppCapturesALayerThroughThePackagesAndMatchesPyTorch()
    {
        string repo = Docs.NotebookRunner.RepoRoot();
        string nupkg = Path.Combine(repo, "nupkg");
        // The build packs Probe and Probe.Reporting as 0.1.0-dev.<hash> and writes each version beside the packages.
        string versionFile = Path.Combine(nupkg, "Probe.Reporting.version");
        Assert.True(File.Exists(versionFile), "nupkg/ has no Probe.Reporting.version: building src/Probe and src/Probe.Reporting packs them there");
        string version = File.ReadAllText(versionFile).Trim();
        Assert.Matches(@"^0\.1\.0-dev\.[0-9a-f]{12}$", version);
        Assert.True(File.Exists(Path.Combine(nupkg, $"Probe.Reporting.{version}.nupkg")), $"nupkg/ has no Probe.Reporting.{version}.nupkg");
        string dir = Path.Combine(Path.GetTempPath(), "probe-consumer-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            File.WriteAllText(Path.Combine(dir, "nuget.config"), $"""
                <?xml version="1.0" encoding="utf-8"?>
                <configuration>
                  <packageSources>
                    <clear />
                    <add key="probe" value="{nupkg}" />
                    <add key="cache" value="{NuGetRoot()}" />
                  </packageSources>
                </configuration>
                """);
            // Hard links instead of copies keep libtorch (about 0.5 GB) from being copied twice; the patch must then
            // replace the linked file, never edit the cache through the link (checked below).
            File.WriteAllText(Path.Combine(dir, "Consumer.csproj"), $$"""
                <Project Sdk="Microsoft.NET.Sdk">
                  <PropertyGroup>
                    <OutputType>Exe</OutputType>
                    <TargetFramework>net10.0</TargetFramework>
                    <ImplicitUsings>enable</ImplicitUsings>
                    <Nullable>enable</Nullable>
                    <CreateHardLinksForCopyLocalIfPossible>true</CreateHardLinksForCopyLocalIfPossible>
                    <CreateHardLinksForCopyFilesToOutputDirectoryIfPossible>true</CreateHardLinksForCopyFilesToOutputDirectoryIfPossible>
                    <CreateHardLinksForPublishFilesIfPossible>true</CreateHardLinksForPublishFilesIfPossible>
                  </PropertyGroup>
                  <ItemGroup>
                    <PackageReference Include="Probe.Reporting" Version="{{version}}" />
                  </ItemGroup>
                </Project>
                """);
            File.WriteAllText(Path.Combine(dir, "Program.cs"), Program);

            var publish = Run(dir, "publish", "-c", "Release", "-o", "out", "-p:NuGetAudit=false");
            Assert.True(publish.Code == 0, "dotnet publish of the consumer failed:\n" + publish.Output);

            string host = ElfVersionPatcher.FindHostLibStdCxx()!;
            bool hostLacks = OperatingSystem.IsLinux() && host != null && !ElfVersionPatcher.VersionDefinitions(host).Contains("GLIBCXX_3.4.32");
            if (OperatingSystem.IsLinux())
            {
                string cached = Path.Combine(NuGetRoot(), "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
                Assert.False(Weak(cached), "the NuGet cache's libLibTorchSharp.so was modified");
                foreach (var output in new[] { Path.Combine(dir, "out"), Path.Combine(dir, "bin", "Release", "net10.0") })
                {
                    var libs = Directory.GetFiles(output, "libLibTorchSharp.so", SearchOption.AllDirectories);
                    Assert.NotEmpty(libs);
                    Assert.All(libs, lib => Assert.True(Weak(lib) == hostLacks, lib + (hostLacks ? " is not patched" : " was patched on a host that needs no patch")));
                }
                Assert.Contains("Probe: host libstdc++ lacks GLIBCXX_3.4.32", hostLacks ? publish.Output : "Probe: host libstdc++ lacks GLIBCXX_3.4.32");
            }

            var run = Run(dir, "out/Consumer.dll", Path.Combine(AppContext.BaseDirectory, "Fixtures"), dir);
            Assert.True(run.Code == 0, "the consumer app failed:\n" + run.Output);
            Assert.Contains("fc1 1797x128", run.Output);
            // The published folder holds the patched library, so Probe's load-time fallback had nothing to do.
            if (hostLacks) Assert.Contains("already patched", run.Output);

            var expected = Npy.ReadMatrix(Fixture("digits_fc1.npy"));
            var got = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(Path.Combine(dir, "fc1.f32"))).ToArray();
            Assert.Equal(expected.Data.Length, got.Length);
            double worst = 0;
            for (int i = 0; i < got.Length; i++)
                worst = Math.Max(worst, Math.Abs(expected.Data[i] - got[i]) / Math.Max(1.0, Math.Abs(expected.Data[i])));
            Assert.True(worst <= 1e-5, $"fc1 differs from PyTorch by {worst:G3} (relative to max(1, |value|))");
            byte[] png = File.ReadAllBytes(Path.Combine(dir, "fc1.png"));
            Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    static bool Weak(string lib) => ElfVersionPatcher.VersionNeeds(lib).Where(n => n.Version == "GLIBCXX_3.4.32").All(n => n.Weak);
}
