module example.com/sigs

go 1.19
