console.log("ocd cli", process.argv.slice(2));
