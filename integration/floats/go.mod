module example.com/floats

go 1.19
